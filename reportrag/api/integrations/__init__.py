"""Other services' retrieval contracts (Dify external knowledge, OpenAI vector-store search)
over the same search service as /v1/search, each with its own request and error shapes."""

"""The read path: filtered dense / hybrid retrieval, fusion, chatbot context. Depends on the core only."""

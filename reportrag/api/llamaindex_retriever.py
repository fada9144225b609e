"""A LlamaIndex retriever over the reportrag HTTP API (``pip install "reportrag[llamaindex]"``).

    from reportrag.api.llamaindex_retriever import ReportragLlamaRetriever
    retriever = ReportragLlamaRetriever("http://127.0.0.1:8000", top_k=4, lang=["zh"])
    nodes = retriever.retrieve("How many A100 GPUs does ChatGPT need?")
    engine = RetrieverQueryEngine.from_args(retriever, llm=...)   # any LlamaIndex LLM

Each result is a ``NodeWithScore``: a ``TextNode`` whose id is the chunk id and whose text is
the passage, with the search score, the passage's character offsets in its document
(``start_char_idx`` / ``end_char_idx``) and its metadata: doc_id, title, section, lang,
doc_lang, kind, date, ordinal, page (PDF, DOCX; else None), the document's user metadata,
found_via, the scores, the search mode and (on by default) its aligned ``counterparts`` in
other languages. An LLM prompt sees only title, section, language and page of that
metadata; embeddings see none (the text is embedded already).
"""

from __future__ import annotations

from typing import Any

from llama_index.core.callbacks import CallbackManager
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from reportrag.api.client import ReportragClient
from reportrag.rules import MAX_TOP_K, MODES

# What a prompt built from the node shows besides the text (the rest is for citations).
SHOWN_TO_LLM = ("title", "section", "lang", "page")


class ReportragLlamaRetriever(BaseRetriever):
    """Retrieve passages from a running reportrag service as LlamaIndex nodes."""

    def __init__(self, base_url: str = "http://127.0.0.1:8000", *, api_key: str | None = None,
                 top_k: int = 5, lang: list[str] | None = None,
                 doc_id: list[str] | None = None, mode: str = "auto",
                 with_counterparts: bool = True, client: ReportragClient | None = None,
                 callback_manager: CallbackManager | None = None, verbose: bool = False) -> None:
        if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
            raise ValueError(f"top_k must be an integer in 1..{MAX_TOP_K}, got {top_k!r}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.top_k, self.lang, self.doc_id, self.mode = top_k, lang, doc_id, mode
        self.with_counterparts = with_counterparts
        self._client = client or ReportragClient(base_url, api_key=api_key)
        super().__init__(callback_manager=callback_manager, verbose=verbose)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        body = self._client.search(query_bundle.query_str, top_k=self.top_k, lang=self.lang,
                                   doc_id=self.doc_id, mode=self.mode,
                                   with_counterparts=self.with_counterparts)
        return [_node(hit, body["mode"]) for hit in body["hits"]]


def _node(hit: dict[str, Any], mode: str) -> NodeWithScore:
    meta: dict[str, Any] = {k: v for k, v in hit.items()
                            if k not in ("text", "score", "char_start", "char_end")}
    meta["search_mode"] = mode
    node = TextNode(
        id_=hit["chunk_id"], text=hit["text"], metadata=meta,
        start_char_idx=hit["char_start"], end_char_idx=hit["char_end"],
        excluded_llm_metadata_keys=[k for k in meta if k not in SHOWN_TO_LLM],
        excluded_embed_metadata_keys=list(meta),
    )
    return NodeWithScore(node=node, score=hit["score"])

"""A LangChain retriever over the reportrag HTTP API.

    from api.langchain_retriever import ReportragRetriever
    retriever = ReportragRetriever(base_url="http://127.0.0.1:8000", top_k=4, lang=["zh"])
    docs = retriever.invoke("How many A100 GPUs does ChatGPT need?")

Each LangChain ``Document`` carries the passage text and its metadata (doc, section, language,
offsets, scores, how it was found) for citations.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

from api.client import ReportragClient


class ReportragRetriever(BaseRetriever):
    """Retrieve passages from a running reportrag service."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    base_url: str = "http://127.0.0.1:8000"
    api_key: str | None = None
    top_k: int = 5
    lang: list[str] | None = None
    doc_id: list[str] | None = None
    mode: str = "auto"
    client: ReportragClient | None = Field(default=None, exclude=True)

    def _client(self) -> ReportragClient:
        if self.client is None:
            self.client = ReportragClient(self.base_url, api_key=self.api_key)
        return self.client

    def _get_relevant_documents(self, query: str, *,
                                run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        body = self._client().search(query, top_k=self.top_k, lang=self.lang,
                                     doc_id=self.doc_id, mode=self.mode)
        out = []
        for h in body["hits"]:
            meta: dict[str, Any] = {k: v for k, v in h.items() if k != "text"}
            meta["search_mode"] = body["mode"]
            out.append(Document(page_content=h["text"], metadata=meta, id=h["chunk_id"]))
        return out

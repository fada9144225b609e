"""A LangChain retriever over the reportrag HTTP API.

    from reportrag.api.langchain_retriever import ReportragRetriever
    retriever = ReportragRetriever(base_url="http://127.0.0.1:8000", k=4, lang=["zh"])
    docs = retriever.invoke("How many A100 GPUs does ChatGPT need?")
    one = retriever.invoke("How many A100 GPUs does ChatGPT need?", k=1)

The number of passages is ``k`` (LangChain's usual name) or ``top_k`` (the API's), at
construction or per call; a per-call value wins for that call. Unknown arguments are refused,
at construction and per call, so a misspelt option fails instead of being ignored.

Each LangChain ``Document`` carries the passage text and its metadata (doc, section, language,
offsets, scores, how it was found) for citations.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import AliasChoices, ConfigDict, Field

from reportrag.api.client import ReportragClient
from reportrag.rules import MAX_TOP_K


class ReportragRetriever(BaseRetriever):
    """Retrieve passages from a running reportrag service."""

    # extra="forbid": LangChain's standard tests (and users) pass `k=3`; silently ignoring an
    # argument we do not know hides a wrong number of results.
    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid", populate_by_name=True)

    base_url: str = "http://127.0.0.1:8000"
    api_key: str | None = None
    top_k: int = Field(
        default=5, ge=1, le=MAX_TOP_K, validation_alias=AliasChoices("top_k", "k"),
        description="passages per query (also accepted as `k`)",
    )
    lang: list[str] | None = None
    doc_id: list[str] | None = None
    mode: str = "auto"
    client: ReportragClient | None = Field(default=None, exclude=True)

    def _client(self) -> ReportragClient:
        if self.client is None:
            self.client = ReportragClient(self.base_url, api_key=self.api_key)
        return self.client

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        k: int | None = None,
        top_k: int | None = None,
    ) -> list[Document]:
        # Naming k and top_k here (no **kwargs) makes BaseRetriever.invoke pass them through,
        # and makes Python itself refuse any other keyword.
        count = self._count(k, top_k)
        body = self._client().search(query, top_k=count, lang=self.lang,
                                     doc_id=self.doc_id, mode=self.mode)
        return [_document(hit, body["mode"]) for hit in body["hits"]]

    def _count(self, k: int | None, top_k: int | None) -> int:
        """The number of passages for one call: its own ``k``/``top_k``, else the retriever's."""
        if k is not None and top_k is not None and k != top_k:
            raise ValueError(f"k={k} and top_k={top_k} disagree: pass one of them")
        value = k if k is not None else top_k
        if value is None:
            return self.top_k
        # bool is an int to Python; k=True is a mistake, not one passage.
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TOP_K:
            raise ValueError(f"k must be an integer in 1..{MAX_TOP_K}, got {value!r}")
        return value


def _document(hit: dict[str, Any], mode: str) -> Document:
    """One search hit as a LangChain document: the text as content, the rest as metadata."""
    meta: dict[str, Any] = {key: value for key, value in hit.items() if key != "text"}
    meta["search_mode"] = mode
    return Document(page_content=hit["text"], metadata=meta, id=hit["chunk_id"])

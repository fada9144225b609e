"""Request and response bodies of the HTTP API (the OpenAPI schema comes from these)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
)

from reportrag.ids import ID_PATTERN
from reportrag.metadata import KEY_PATTERN
from reportrag.rules import (
    BALANCE,
    DATE,
    KIND_PATTERN,
    LANG_PATTERN,
    MAX_FILTER_VALUES,
    MAX_SECTION_CHARS,
    MAX_TOP_K,
    MODES,
    NO_CONTROL_PATTERN,
)
from reportrag.search.filters import build_filters
from reportrag.types import Filters

MAX_NEIGHBORS = 20  # chunks on each side of one chunk (GET /v1/chunks/{id})
# A query must have a character that is not whitespace (Python's str.isspace, spelled out so
# that Python, ECMA and Rust regex engines agree); the route checks it with a clear message.
NON_BLANK = (
    r"[^\u0009-\u000d\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a"
    r"\u2028\u2029\u202f\u205f\u3000]"
)



def _integral(value: object) -> object:
    # JSON Schema counts 5.0 as an integer, so clients may send it; strings and bools stay 422.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Int = Annotated[int, BeforeValidator(_integral)]
# The modes and balances of reportrag.rules, as the schema's enums (plain strings to mypy,
# which cannot read a Literal built from a tuple).
if TYPE_CHECKING:
    SearchMode = str
    Balance = str
else:
    SearchMode = Literal.__getitem__(MODES)
    Balance = Literal.__getitem__(BALANCE)
# The same rules reportrag/search/filters.py enforces (reportrag.rules), published in the
# OpenAPI schema.
LangCode = Annotated[str, StringConstraints(pattern=LANG_PATTERN)]
DocIdValue = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
KindValue = Annotated[str, StringConstraints(pattern=KIND_PATTERN)]
# YYYY-MM-DD (a real date: reportrag/search/filters.py checks the calendar) or "" for no filter.
DateValue = Annotated[
    str,
    StringConstraints(pattern=rf"^({DATE})?$"),
    WithJsonSchema(
        {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "maxLength": 0}]}
    ),
]


# A date YYYY-MM-DD (the calendar is checked where it is used).
DayValue = Annotated[
    str,
    StringConstraints(pattern=rf"^{DATE}$"),
    WithJsonSchema({"type": "string", "format": "date"}),
]


class _Strict(BaseModel):
    # Unknown fields are errors (422), never silently ignored.
    model_config = ConfigDict(extra="forbid", strict=True)


class FiltersIn(_Strict):
    """Metadata filters, applied inside the vector search. All optional; lists are OR-ed."""

    lang: list[LangCode] | None = Field(
        default=None, max_length=MAX_FILTER_VALUES, description="ISO 639-1 codes, e.g. ['zh']"
    )
    doc_id: list[DocIdValue] | None = Field(default=None, max_length=MAX_FILTER_VALUES)
    section: str | None = Field(
        default=None,
        max_length=MAX_SECTION_CHARS,
        # No control characters, C0, DEL or C1: the store refuses them in any filter value.
        pattern=NO_CONTROL_PATTERN,
        description="section path prefix, e.g. '2.3'",
    )
    kind: list[KindValue] | None = Field(
        default=None, max_length=MAX_FILTER_VALUES, description="e.g. ['report']"
    )
    date_from: DateValue | None = Field(default=None, description="YYYY-MM-DD, inclusive")
    date_to: DateValue | None = Field(default=None, description="YYYY-MM-DD, inclusive")
    metadata: dict[str, Any] | None = Field(
        default=None,
        description="a filter over the documents' user metadata: a condition "
        '{"key": K, "op": OP, "value": V} (OP: eq, ne, in, nin, gt, gte, lt, lte, contains, '
        'exists) or {"and": [...]}, {"or": [...]}, {"not": {...}}; keys and value types are '
        "checked against the collection's documents (422 otherwise)",
        json_schema_extra={"examples": [{"and": [
            {"key": "department", "op": "eq", "value": "legal"},
            {"key": "year", "op": "gte", "value": 2023}]}]},
    )

    def to_filters(self) -> Filters:
        """The checked, portable filters the search runs with."""
        return build_filters(lang=self.lang, doc_id=self.doc_id, section=self.section,
                             kind=self.kind, date_from=self.date_from, date_to=self.date_to,
                             metadata=self.metadata)


class SearchIn(_Strict):
    """``POST /v1/search``."""

    query: str = Field(
        min_length=1,
        max_length=100_000,  # the schema shows REPORTRAG_MAX_QUERY_CHARS (reportrag/api/limits.py)
        json_schema_extra={"pattern": NON_BLANK},
        description="the question; not blank, at most REPORTRAG_MAX_QUERY_CHARS characters",
    )
    top_k: Int = Field(default=5, ge=1, le=MAX_TOP_K)
    filters: FiltersIn = Field(default_factory=FiltersIn)
    mode: SearchMode = "auto"
    min_score: float | None = Field(
        default=None, ge=-1.0, le=1.0, description="minimum dense (cosine) similarity"
    )
    dedupe: bool = True
    diversify: bool = Field(default=False, description="MMR diversification of the hits")
    balance: Balance = Field(
        default="auto",
        description="interleave languages so that none crowds out the others "
        "(auto: when the lang filter names several languages)",
    )
    with_counterparts: bool = Field(
        default=False, description="attach each hit's aligned passages in other languages"
    )
    facets: list[Annotated[str, StringConstraints(pattern=KEY_PATTERN)]] = (
        Field(
            default_factory=list, max_length=10,
            description="count the passages the filters select by these fields (lang, "
            "doc_lang, kind, date, doc_id) or metadata keys, e.g. ['lang', 'year']",
        )
    )


class CounterpartOut(BaseModel):
    chunk_id: str
    lang: str
    text: str
    confidence: float
    doc_id: str = ""
    section: str = ""


class CounterpartsOut(BaseModel):
    chunk_id: str
    counterparts: list[CounterpartOut]


class HitOut(BaseModel):
    chunk_id: str
    doc_id: str
    title: str
    lang: str = Field(description="the language of this passage's own text")
    doc_lang: str = Field(default="", description="its document's language (filters.lang)")
    section: str
    text: str
    score: float
    dense_score: float | None
    keyword_score: float | None
    char_start: int
    char_end: int
    kind: str = ""
    date: str = ""
    ordinal: int = 0
    page: int | None = Field(default=None, description="the page it starts on (PDF, DOCX)")
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="the document's user metadata"
    )
    found_via: list[str] = Field(default_factory=list)
    counterparts: list[CounterpartOut] | None = None


class FacetValueOut(BaseModel):
    value: str | int | float | bool
    count: int


class FacetsOut(BaseModel):
    counts: dict[str, list[FacetValueOut]]
    passages: int = Field(description="passages counted (those the filters select)")
    truncated: bool = Field(description="more passages matched than were counted")


class SearchOut(BaseModel):
    hits: list[HitOut]
    mode: str
    took_ms: float
    query_lang: str = ""
    facets: FacetsOut | None = None


class ContextIn(_Strict):
    """``POST /v1/context``: retrieved passages as one prompt-ready block."""

    query: str = Field(
        min_length=1,
        max_length=100_000,
        json_schema_extra={"pattern": NON_BLANK},
        description="the question; not blank, at most REPORTRAG_MAX_QUERY_CHARS characters",
    )
    max_tokens: Int = Field(default=1500, ge=64, le=32_000)
    filters: FiltersIn = Field(default_factory=FiltersIn)
    top_k: Int = Field(default=5, ge=1, le=50)
    neighbors: Int = Field(default=0, ge=0, le=5)
    mode: SearchMode = "auto"


class CitationOut(BaseModel):
    n: int
    doc_id: str
    title: str
    section: str
    lang: str
    chunk_ids: list[str]
    char_start: int
    char_end: int
    page: int | None = None
    score: float
    found_via: list[str]


class ContextOut(BaseModel):
    context: str
    citations: list[CitationOut]
    tokens: int
    max_tokens: int
    mode: str
    took_ms: float


class ChunkOut(BaseModel):
    chunk_id: str
    doc_id: str
    title: str
    lang: str
    kind: str
    date: str
    section: str
    ordinal: int
    text: str
    token_count: int
    char_start: int
    char_end: int
    content_hash: str
    prev_id: str
    next_id: str
    counterparts: list[dict[str, Any]] = Field(default_factory=list)
    page: int | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class ChunkIn(_Strict):
    """One chunk and its neighbours (the MCP ``get_chunk`` tool; ``GET /v1/chunks/{id}``)."""

    chunk_id: DocIdValue = Field(description="a chunk_id from search or context results")
    neighbors: Int = Field(default=0, ge=0, le=MAX_NEIGHBORS,
                           description="chunks to add on each side, in reading order")


class CounterpartsIn(_Strict):
    """A chunk's aligned passages (the MCP ``counterparts`` tool)."""

    chunk_id: DocIdValue = Field(description="a chunk_id from search or context results")


class NoArguments(_Strict):
    """A call that takes no arguments."""


class ChunkWithNeighborsOut(BaseModel):
    chunk: ChunkOut
    before: list[ChunkOut]
    after: list[ChunkOut]


class TranslationOut(BaseModel):
    doc_id: str = Field(description="the document in another language")
    confidence: float = Field(ge=0.0, le=1.0, description="document-level alignment score")
    source: Literal["declared", "detected"] = Field(
        description="declared in the manifest (translation_of) or detected from the content"
    )


class DocumentOut(BaseModel):
    doc_id: str
    title: str
    lang: str = Field(default="", description="the document's language (what filters.lang matches)")
    kind: str
    date: str
    chunks: int
    langs: dict[str, int]
    sections: list[str] = Field(default_factory=list)
    translations: list[TranslationOut] = Field(
        default_factory=list, description="the documents that translate this one"
    )


class DocumentsOut(BaseModel):
    documents: list[DocumentOut]


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)
    request_id: str | None = Field(
        default=None, description="the request's id (its X-Request-ID), to find it in the logs"
    )


class ErrorOut(BaseModel):
    error: ErrorBody


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route that answers these statuses with :class:`ErrorOut`."""
    return {status: {"model": ErrorOut} for status in statuses}

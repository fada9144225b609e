"""The collection schema, its indexes, and the Chunk <-> row mapping.

Chunk fields map 1:1 to collection fields, plus ``vector`` (dense, COSINE) and, where the
deployment has BM25, ``sparse`` (written by the BM25 function from ``text``, never by us).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from pymilvus import DataType, Function, FunctionType, MilvusClient
from pymilvus.milvus_client.index import IndexParams

from reportrag.errors import ConfigError
from reportrag.store.capabilities import IVF_KINDS, Dialect, IndexConfig
from reportrag.types import TRANSLATION_SOURCES, Chunk, Counterpart, Translation

VECTOR = "vector"
SPARSE = "sparse"
# False while an ingestion writes a document's rows, True once all of them are stored:
# searches and reads for users see visible rows only, so no half-written document is seen.
VISIBLE = "visible"
# What the collection's fields are: 1 before ``visible``, ``doc_lang``, ``context`` and
# ``index_text`` existed (2: vectors and BM25 of "context + text"); 3 adds ``page`` and the
# user ``metadata``. Older collections are read; writes refuse them.
SCHEMA_VERSION = 3
INDEX_TEXT = "index_text"  # context + text: what BM25 reads (schema 2; 1 read ``text``)
SCHEMA_PROPERTY = "reportrag.schema"
FINGERPRINT_PROPERTY = "reportrag.fingerprint"
# A random id per created collection: tells a re-created collection from the old one.
GENERATION_PROPERTY = "reportrag.generation"
# "false" from the first write after a consolidation until the next one (Milvus Lite).
CONSOLIDATED_PROPERTY = "reportrag.consolidated"
BM25_FUNCTION = "text_bm25"
# {key: type} of the documents' user metadata (JSON; reportrag/metadata.py), and how long a
# process trusts what it read of it before reading it again.
METADATA_TYPES_PROPERTY = "reportrag.metadata_types"
METADATA_TYPES_TTL_S = 5.0

# VARCHAR limits are bytes of UTF-8 on the server; Chinese text is 3 bytes a character.
VARCHAR_FIELDS: dict[str, int] = {
    "chunk_id": 128,
    "doc_id": 128,
    "title": 2048,
    "lang": 16,
    "doc_lang": 16,
    "kind": 64,
    "date": 16,
    "section": 4096,
    "prev_id": 128,
    "next_id": 128,
    "content_hash": 64,
    "context": 2048,
    "text": 65535,
}
INDEX_TEXT_BYTES = 65535
INT_FIELDS = ("ordinal", "token_count", "char_start", "char_end", "page")
METADATA = "metadata"  # JSON: the document's user metadata (schema 3)
# Scalar fields that filters and lookups use; each gets a scalar index.
FILTER_FIELDS = ("doc_id", "lang", "doc_lang", "kind", "date", "section")
# What a search / query returns to rebuild a Chunk (never the vectors).
CHUNK_FIELDS = [*VARCHAR_FIELDS, *INT_FIELDS, "counterparts", METADATA]
_SINCE_2 = ("doc_lang", "context")  # chunk fields a collection of schema 1 does not have
_SINCE_3 = ("page", METADATA)  # nor one of schema 2


def chunk_fields(schema: int) -> list[str]:
    """The fields a query returns to rebuild a Chunk from a collection of ``schema``."""
    missing = (*(_SINCE_2 if schema < 2 else ()), *(_SINCE_3 if schema < 3 else ()))
    return [f for f in CHUNK_FIELDS if f not in missing]


def row_fields(schema: int) -> list[str]:
    """Every field of a stored row that is not computed by Milvus (for rewriting rows)."""
    extra = [INDEX_TEXT, VISIBLE] if schema >= 2 else []
    return [*chunk_fields(schema), *extra, VECTOR]


def build_schema(dim: int, dialect: Dialect, description: str) -> Any:
    """An explicit schema (no dynamic fields) for a chunk collection."""
    schema = MilvusClient.create_schema(
        auto_id=False, enable_dynamic_field=False, description=description
    )
    bm25 = dialect.capabilities.bm25 and dialect.analyzer_params is not None
    for name, max_len in VARCHAR_FIELDS.items():
        extra: dict[str, Any] = {}
        if name == "chunk_id":
            extra["is_primary"] = True
        schema.add_field(name, DataType.VARCHAR, max_length=max_len, **extra)
    text_extra: dict[str, Any] = {}
    if bm25:
        text_extra = {"enable_analyzer": True, "analyzer_params": dialect.analyzer_params}
    schema.add_field(INDEX_TEXT, DataType.VARCHAR, max_length=INDEX_TEXT_BYTES, **text_extra)
    for name in INT_FIELDS:
        schema.add_field(name, DataType.INT64)
    schema.add_field("counterparts", DataType.JSON)
    schema.add_field(METADATA, DataType.JSON)
    schema.add_field(VISIBLE, DataType.BOOL)
    schema.add_field(VECTOR, DataType.FLOAT_VECTOR, dim=dim)
    if bm25:
        schema.add_field(SPARSE, DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(
            Function(
                name=BM25_FUNCTION,
                function_type=FunctionType.BM25,
                input_field_names=[INDEX_TEXT],
                output_field_names=[SPARSE],
            )
        )
    return schema


def vector_index_kind(dialect: Dialect, config: IndexConfig) -> str:
    return dialect.default_vector_index if config.kind == "auto" else config.kind


def build_index_params(dialect: Dialect, config: IndexConfig) -> IndexParams:
    """Vector index (COSINE), scalar indexes on filter fields, BM25 sparse index."""
    params = MilvusClient.prepare_index_params()
    kind = vector_index_kind(dialect, config)
    vector_params: dict[str, Any] = {}
    if kind == "HNSW":
        vector_params = {"M": config.hnsw_m, "efConstruction": config.hnsw_ef_construction}
    elif kind in IVF_KINDS:
        vector_params = {"nlist": config.ivf_nlist}
    params.add_index(VECTOR, index_type=kind, metric_type="COSINE", params=vector_params)
    for name in FILTER_FIELDS:
        params.add_index(name, index_type=dialect.scalar_index)
    params.add_index("ordinal", index_type=dialect.int_index)
    if dialect.capabilities.bm25 and dialect.analyzer_params is not None:
        params.add_index(SPARSE, index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    return params


def field_problem(chunk: Chunk) -> str | None:
    """Why ``chunk`` cannot be stored as it is, or None."""
    for name, max_len in VARCHAR_FIELDS.items():
        value = getattr(chunk, name)
        if not isinstance(value, str):
            return f"{name} must be a string"
        if len(value.encode("utf-8")) > max_len:
            return f"{name} is longer than {max_len} bytes"
    if len(chunk.indexed_text.encode("utf-8")) > INDEX_TEXT_BYTES:
        return f"context and text are longer than {INDEX_TEXT_BYTES} bytes"
    if not chunk.chunk_id:
        return "chunk_id is empty"
    for name in INT_FIELDS:
        if not isinstance(getattr(chunk, name), int):
            return f"{name} must be an integer"
    return None


def chunk_to_row(chunk: Chunk, vector: np.ndarray, *, visible: bool = True) -> dict[str, Any]:
    """The row for ``chunk``; JSON fields must be objects on Milvus 2.3, hence ``items``."""
    row: dict[str, Any] = {name: getattr(chunk, name) for name in VARCHAR_FIELDS}
    row[INDEX_TEXT] = chunk.indexed_text
    row.update({name: int(getattr(chunk, name)) for name in INT_FIELDS})
    row["counterparts"] = counterparts_json(chunk.counterparts)
    row[METADATA] = dict(chunk.metadata)
    row[VISIBLE] = bool(visible)
    row[VECTOR] = vector.tolist()
    return row


def schema_version(desc: dict[str, Any]) -> int:
    """The schema version of a described collection (1 for collections made before 2)."""
    recorded = (desc.get("properties") or {}).get(SCHEMA_PROPERTY)
    if recorded is not None and str(recorded).isdigit():
        return int(recorded)
    names = {f.get("name") for f in desc.get("fields", [])}
    return 3 if METADATA in names else 2 if VISIBLE in names else 1


def counterparts_json(counterparts: list[Counterpart]) -> dict[str, Any]:
    return {
        "items": [
            {"chunk_id": c.chunk_id, "lang": c.lang, "confidence": float(c.confidence)}
            for c in counterparts
        ]
    }


# A document's translations (document level) live in its first chunk's ``counterparts``
# JSON, beside the chunk's own ``items``: {"items": [...], "translations": [{doc_id,
# confidence, source}]}. No new field, so no schema version: older code reads ``items`` and
# ignores the rest, and rows written from a Chunk (which has no such key) simply lack it
# until the next ingestion records it again.
TRANSLATIONS_KEY = "translations"
HEAD_ORDINAL = 0  # the chunk that carries its document's translations


def _json_object(raw: object) -> dict[str, Any]:
    if isinstance(raw, (str, bytes)):
        try:
            raw = json.loads(raw)
        except ValueError:
            return {}
    if isinstance(raw, dict):
        return dict(raw)
    return {"items": raw} if isinstance(raw, list) else {}


def with_counterparts(raw: object, counterparts: list[Counterpart]) -> dict[str, Any]:
    """The stored ``counterparts`` JSON with its items replaced and everything else kept."""
    out = _json_object(raw)
    out["items"] = counterparts_json(counterparts)["items"]
    return out


def translations_json(translations: list[Translation]) -> list[dict[str, Any]]:
    return [
        {"doc_id": t.doc_id, "confidence": round(float(t.confidence), 3), "source": t.source}
        for t in translations
    ]


def with_translations(raw: object, translations: list[Translation]) -> dict[str, Any]:
    """The stored ``counterparts`` JSON with the document's translations set (or removed)."""
    out = _json_object(raw)
    out.setdefault("items", [])
    if translations:
        out[TRANSLATIONS_KEY] = translations_json(translations)
    else:
        out.pop(TRANSLATIONS_KEY, None)
    return out


def row_translations(row: dict[str, Any]) -> list[Translation]:
    """The document translations recorded in a (first) chunk's row; [] when none."""
    items = _json_object(row.get("counterparts")).get(TRANSLATIONS_KEY)
    if not isinstance(items, list):
        return []
    return [
        Translation(
            doc_id=str(i["doc_id"]),
            confidence=float(i.get("confidence", 0.0)),
            source=str(i.get("source", "detected")),
        )
        for i in items
        if isinstance(i, dict) and i.get("doc_id") and i.get("source", "detected")
        in TRANSLATION_SOURCES
    ]


def _counterparts(raw: object) -> list[Counterpart]:
    if isinstance(raw, (str, bytes)):
        raw = json.loads(raw)
    items = raw.get("items", []) if isinstance(raw, dict) else raw
    if not isinstance(items, list):
        return []
    return [
        Counterpart(
            chunk_id=str(i["chunk_id"]),
            lang=str(i.get("lang", "")),
            confidence=float(i.get("confidence", 0.0)),
        )
        for i in items
        if isinstance(i, dict) and "chunk_id" in i
    ]


def row_counterparts(row: dict[str, Any]) -> list[Counterpart]:
    """The counterparts stored in a row's ``counterparts`` field."""
    return _counterparts(row.get("counterparts"))


def row_to_chunk(row: dict[str, Any]) -> Chunk:
    """A Chunk from a query/search row holding :data:`CHUNK_FIELDS`."""
    return Chunk(
        chunk_id=str(row["chunk_id"]),
        doc_id=str(row.get("doc_id", "")),
        title=str(row.get("title", "")),
        lang=str(row.get("lang", "")),
        doc_lang=str(row.get("doc_lang", "")),
        context=str(row.get("context", "")),
        kind=str(row.get("kind", "")),
        date=str(row.get("date", "")),
        section=str(row.get("section", "")),
        ordinal=int(row.get("ordinal", 0)),
        text=str(row.get("text", "")),
        token_count=int(row.get("token_count", 0)),
        char_start=int(row.get("char_start", 0)),
        char_end=int(row.get("char_end", 0)),
        content_hash=str(row.get("content_hash", "")),
        prev_id=str(row.get("prev_id", "")),
        next_id=str(row.get("next_id", "")),
        counterparts=_counterparts(row.get("counterparts")),
        page=int(row.get("page") or 0),
        metadata=_json_object(row.get(METADATA)) if row.get(METADATA) else {},
    )


def metadata_types_of(raw: object) -> dict[str, str]:
    """The recorded metadata types ({} when none or unreadable)."""
    if not raw:
        return {}
    try:
        value = json.loads(str(raw))
    except ValueError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items()}


def fingerprint_json(fingerprint: dict[str, Any]) -> str:
    """The fingerprint as stored (collection property and description)."""
    return json.dumps(fingerprint, sort_keys=True, ensure_ascii=True)


def normalize_fingerprint(fingerprint: dict[str, object]) -> dict[str, Any]:
    """The fingerprint as it reads back from JSON (tuples become lists, keys strings)."""
    try:
        return json.loads(json.dumps(fingerprint, sort_keys=True))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"fingerprint is not JSON-serialisable: {exc}") from exc


def analyzer_name(params: object) -> str:
    """The tokenizer named in a text field's analyzer_params (JSON text or dict)."""
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except ValueError:
            return ""
    if not isinstance(params, dict):
        return "standard" if params is None else ""
    tokenizer = params.get("tokenizer") or params.get("type") or "standard"
    if isinstance(tokenizer, dict):
        tokenizer = tokenizer.get("type", "standard")
    return str(tokenizer)


def vector_dim(desc: dict[str, Any]) -> int:
    """The dim of the dense vector field in a describe_collection answer (-1 if none)."""
    for f in desc.get("fields", []):
        if f.get("name") == VECTOR:
            return int((f.get("params") or {}).get("dim", -1))
    return -1


def stored_fingerprint(desc: dict[str, Any]) -> dict[str, Any] | None:
    """From the collection property (Lite and server) or the description (server)."""
    candidates = [(desc.get("properties") or {}).get(FINGERPRINT_PROPERTY), desc.get("description")]
    for text in candidates:
        if not text:
            continue
        try:
            value = json.loads(text)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None

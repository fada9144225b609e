"""A collection built by an older reportrag (schema 1) on Milvus Lite: still searchable,
never written to, rebuilt on request (no model: vectors are made up, the store is real)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pymilvus import DataType, Function, FunctionType, MilvusClient

from reportrag.errors import OutdatedCollectionError
from reportrag.store import MilvusStore
from reportrag.store import schema as sc
from reportrag.types import Chunk, Filters

DIM = 8
FINGERPRINT = {"model": "test-model", "dim": DIM}
V1_TEXT = {k: v for k, v in sc.VARCHAR_FIELDS.items() if k not in ("doc_lang", "context")}
V1_INT = [f for f in sc.INT_FIELDS if f != "page"]


def _v1_collection(db: Path, name: str) -> np.ndarray:
    """The collection as reportrag 0.1 (schema 1) created it, holding one English row."""
    client = MilvusClient(str(db))
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    for field, size in V1_TEXT.items():
        extra = {"is_primary": True} if field == "chunk_id" else {}
        if field == "text":
            extra = {"enable_analyzer": True, "analyzer_params": {"tokenizer": "standard"}}
        schema.add_field(field, DataType.VARCHAR, max_length=size, **extra)
    for field in V1_INT:
        schema.add_field(field, DataType.INT64)
    schema.add_field("counterparts", DataType.JSON)
    schema.add_field(sc.VECTOR, DataType.FLOAT_VECTOR, dim=DIM)
    schema.add_field(sc.SPARSE, DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(Function(name=sc.BM25_FUNCTION, function_type=FunctionType.BM25,
                                 input_field_names=["text"], output_field_names=[sc.SPARSE]))
    index = MilvusClient.prepare_index_params()
    index.add_index(sc.VECTOR, index_type="FLAT", metric_type="COSINE")
    index.add_index(sc.SPARSE, index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    props = {sc.FINGERPRINT_PROPERTY: sc.fingerprint_json(FINGERPRINT)}
    client.create_collection(name, schema=schema, index_params=index, properties=props)
    vector = np.ones(DIM, dtype=np.float32) / np.sqrt(DIM)
    row = {f: "" for f in V1_TEXT}
    row.update(chunk_id="old:00000:x", doc_id="old", title="Old", lang="en", kind="article",
               text="Open source licences in the old collection.", content_hash="h",
               ordinal=0, token_count=9, char_start=0, char_end=44,
               counterparts={"items": []}, vector=vector.tolist())
    client.insert(name, [row])
    client.flush(name)
    client.close()
    return vector


def test_an_older_collection_is_read_but_never_written(tmp_path: Path) -> None:
    db = tmp_path / "milvus.db"
    vector = _v1_collection(db, "chunks_v1")
    store = MilvusStore(str(db), "chunks_v1", DIM)
    store.connect()
    store.ensure_collection(FINGERPRINT)
    # Reads: no visibility clause, the chunk's own language stands for the document's.
    hits = store.rank_dense(vector, Filters(lang=("en",)), 5, rows=True)
    assert [h.chunk_id for h in hits] == ["old:00000:x"]
    assert hits[0].chunk.text.startswith("Open source")
    assert [h.chunk_id for h in store.rank_text("licences", Filters(), 5)] == ["old:00000:x"]
    assert store.get(["old:00000:x"])[0].text.startswith("Open source")
    assert [d["lang"] for d in store.documents()] == ["en"]
    # Writes: refused with the way out, and nothing changes.
    chunk = store.get(["old:00000:x"])[0]
    with pytest.raises(OutdatedCollectionError, match="reportrag ingest --rebuild") as err:
        store.upsert([chunk], vector[None, :])
    assert err.value.details["schema"] == 1
    assert err.value.details["wanted_schema"] == sc.SCHEMA_VERSION
    with pytest.raises(OutdatedCollectionError):
        store.delete(["old:00000:x"])
    assert store.count() == 1
    # A rebuild starts a collection of the current schema.
    store.drop()
    store.ensure_collection(FINGERPRINT)
    fresh = Chunk(**{**chunk.__dict__, "doc_lang": "en", "context": "Old"})
    store.upsert([fresh], vector[None, :])
    assert store.get([fresh.chunk_id])[0].doc_lang == "en"
    store.close()

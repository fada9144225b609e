"""The ingestion checkpoint: keys, generations, torn lines, forgetting (no model, no Milvus)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from reportrag.ingest.checkpoint import (
    Checkpoint,
    checkpoint_path,
    code_digest,
    code_files,
    document_key,
    forget_document,
    pair_key,
    run_digest,
)
from reportrag.types import DocumentMeta

META = DocumentMeta(doc_id="d1", path="/corpus/a.txt", title="A", lang="en", kind="report")
RUN = run_digest(chunk_tokens=320, overlap_tokens=48, fingerprint={"model": "m", "dim": 384})


def test_document_key_follows_bytes_metadata_and_run_but_not_the_path() -> None:
    key = document_key(META, b"hello", RUN)
    assert document_key(META, b"hello", RUN) == key
    assert document_key(replace(META, path="/elsewhere/a.txt"), b"hello", RUN) == key
    assert document_key(META, b"hello!", RUN) != key
    assert document_key(replace(META, title="B"), b"hello", RUN) != key
    assert document_key(replace(META, translation_of="d2"), b"hello", RUN) != key
    other_run = run_digest(chunk_tokens=200, overlap_tokens=48, fingerprint={"model": "m"})
    assert document_key(META, b"hello", other_run) != key
    other_model = run_digest(chunk_tokens=320, overlap_tokens=48, fingerprint={"model": "x"})
    assert other_model != RUN


def test_code_digest_covers_the_chunking_code() -> None:
    digest = code_digest()
    assert len(digest) == 64 and digest == code_digest()
    assert json.loads(json.dumps(RUN)) == RUN  # a plain string, stable across processes
    # every core module the chunks depend on is hashed, also when a module becomes a package
    package = Path(__file__).resolve().parents[1] / "reportrag"
    hashed = {f.relative_to(package).as_posix() for f in code_files()}
    for name in ("prose.py", "types.py", "ingest/chunking.py", "ingest/headings.py",
                 "ingest/splitting.py", "langid/scripts.py", "langid/document.py"):
        assert name in hashed, name
    assert all(f.is_file() for f in code_files())


def test_done_documents_survive_a_reload(tmp_path: Path) -> None:
    path = tmp_path / "cp.jsonl"
    cp = Checkpoint(path, "gen1")
    assert cp.done_chunks("d1", "k1") is None
    cp.mark_done("d1", "k1", 12)
    cp.mark_done("d2", "k2", 3)
    cp.mark_done("d1", "k1b", 13)  # the document changed and was ingested again
    again = Checkpoint(path, "gen1")
    assert again.done_chunks("d1", "k1b") == 13
    assert again.done_chunks("d1", "k1") is None  # the old key no longer counts
    assert again.done_chunks("d2", "k2") == 3
    assert len(again) == 2


def test_another_generation_starts_empty(tmp_path: Path) -> None:
    path = tmp_path / "cp.jsonl"
    Checkpoint(path, "gen1").mark_done("d1", "k1", 5)
    fresh = Checkpoint(path, "gen2")  # the collection was dropped and created again
    assert fresh.done_chunks("d1", "k1") is None and len(fresh) == 0
    fresh.mark_done("d3", "k3", 1)
    assert Checkpoint(path, "gen2").done_chunks("d3", "k3") == 1
    assert Checkpoint(path, "gen1").done_chunks("d1", "k1") is None


def test_a_torn_last_line_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "cp.jsonl"
    cp = Checkpoint(path, "g")
    cp.mark_done("d1", "k1", 4)
    with path.open("a", encoding="utf-8") as fh:
        fh.write('{"doc": "d2", "key": "k2", "chu')  # killed mid-append
    again = Checkpoint(path, "g")
    assert again.done_chunks("d1", "k1") == 4 and again.done_chunks("d2", "k2") is None
    again.mark_done("d2", "k2", 2)  # appending after the torn line still works
    assert Checkpoint(path, "g").done_chunks("d2", "k2") == 2


def test_garbage_file_is_a_fresh_start(tmp_path: Path) -> None:
    path = tmp_path / "cp.jsonl"
    path.write_bytes(b"\xff\xfe not json at all \x00")
    cp = Checkpoint(path, "g")
    assert len(cp) == 0
    cp.mark_done("d1", "k", 1)
    assert Checkpoint(path, "g").done_chunks("d1", "k") == 1


def test_forget_drops_the_document_and_its_alignments(tmp_path: Path) -> None:
    path = checkpoint_path(tmp_path, "/data/milvus.db", "chunks")
    cp = Checkpoint(path, "g")
    cp.mark_done("en", "ke", 10)
    cp.mark_done("zh", "kz", 9)
    pk = pair_key("ke", "kz")
    cp.mark_pair("en", "zh", pk)
    assert cp.pair_done("en", "zh", pk) and not cp.pair_done("en", "zh", "other")
    forget_document(tmp_path, "/data/milvus.db", "chunks", "zh")  # e.g. DELETE /v1/documents/zh
    again = Checkpoint(path, "g")
    assert again.done_chunks("zh", "kz") is None and again.done_chunks("en", "ke") == 10
    assert not again.pair_done("en", "zh", pk)


def test_compact_keeps_one_line_per_entry(tmp_path: Path) -> None:
    path = tmp_path / "cp.jsonl"
    cp = Checkpoint(path, "g")
    for i in range(5):
        cp.mark_done("d", f"k{i}", i)
    cp.forget("nothing-there")  # no-op
    cp.compact()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2  # header + one document
    assert Checkpoint(path, "g").done_chunks("d", "k4") == 4


def test_checkpoints_of_different_collections_or_uris_do_not_collide(tmp_path: Path) -> None:
    a = checkpoint_path(tmp_path, "http://a:19530", "c")
    b = checkpoint_path(tmp_path, "http://b:19530", "c")
    c = checkpoint_path(tmp_path, "http://a:19530", "d")
    assert len({a, b, c}) == 3


def test_the_last_translation_detection_survives_a_reload_and_compaction(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    cp = Checkpoint(path, "gen-1")
    assert not cp.detection_done("k1") and not cp.detection_done("")
    cp.mark_detection("k1")
    cp.mark_detection("k1")  # recorded once
    assert cp.detection_done("k1") and not cp.detection_done("k2")
    again = Checkpoint(path, "gen-1")
    assert again.detection_done("k1")
    again.mark_detection("k2")
    again.compact()
    lines = path.read_text().splitlines()
    assert sum('"detection"' in line for line in lines) == 1
    assert Checkpoint(path, "gen-1").detection_done("k2")
    assert not Checkpoint(path, "gen-2").detection_done("k2")

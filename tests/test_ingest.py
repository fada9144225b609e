"""Ingestion end to end with the real model and Milvus Lite: idempotent, incremental, crash-safe."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from reportrag.api.cli import main as cli_main
from reportrag.errors import DocumentError
from reportrag.ingest.corpus import discover
from reportrag.ingest.pipeline import prepare_document, run_ingest
from reportrag.langid import LanguageDetector
from reportrag.store import MilvusStore
from reportrag.types import Filters

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent
SMALL = ["002_e3e1792454d159ff.txt", "003_18194aaf734a0421.txt"]


@pytest.fixture()
def small_corpus(tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in SMALL:
        shutil.copy(REPO / "corpus" / name, corpus / name)
    return corpus


def _store(tmp_path: Path, dim: int = 384) -> MilvusStore:
    store = MilvusStore(str(tmp_path / "milvus.db"), "t_ingest", dim)
    store.connect()
    return store


def _ingest(corpus: Path, store: MilvusStore, embedder, **kw):
    store.ensure_collection(embedder.fingerprint())
    return run_ingest(
        discover(corpus),
        embedder=embedder,
        store=store,
        detector=LanguageDetector(),
        chunk_tokens=256,
        overlap_tokens=32,
        progress=False,
        prune_doc_ids=True,
        **kw,
    )


def _snapshot(store: MilvusStore) -> dict[str, str]:
    return {cid: h for d in store.all_doc_ids() for cid, h in store.doc_index(d).items()}


def _doc_sizes(snapshot: dict[str, str]) -> dict[str, list[str]]:
    """chunk ids of a snapshot by document (ids start with their doc id and a colon)."""
    out: dict[str, list[str]] = {}
    for cid in snapshot:
        out.setdefault(cid.rsplit(":", 2)[0], []).append(cid)
    return out


def test_second_run_embeds_and_changes_nothing(small_corpus, tmp_path, embedder) -> None:
    store = _store(tmp_path)
    first = _ingest(small_corpus, store, embedder)
    assert first.added == first.chunks == first.embedded > 0
    before = _snapshot(store)
    second = _ingest(small_corpus, store, embedder)
    assert (second.added, second.updated, second.deleted, second.embedded) == (0, 0, 0, 0)
    assert second.unchanged == first.chunks
    assert _snapshot(store) == before
    store.close()


def test_editing_one_paragraph_reembeds_only_affected_chunks(
    small_corpus, tmp_path, embedder
) -> None:
    store = _store(tmp_path)
    _ingest(small_corpus, store, embedder)
    path = small_corpus / SMALL[1]
    text = path.read_text(encoding="utf-8")
    old = "Zhou Jingren"
    assert old in text
    path.write_text(text.replace(old, "Zhou J. (edited)", 1), encoding="utf-8")
    summary = _ingest(small_corpus, store, embedder)
    assert 1 <= summary.embedded <= 3, summary.per_document
    assert summary.deleted == summary.embedded  # each edited chunk replaced its old version
    meta = next(d for d in discover(small_corpus) if d.path == str(path))
    _, fresh = prepare_document(
        meta, embedder=embedder, detector=LanguageDetector(), chunk_tokens=256, overlap_tokens=32
    )
    stored = store.doc_index(meta.doc_id)
    assert set(stored) == {c.chunk_id for c in fresh}  # no stale chunk left behind
    store.close()


_CRASHER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from reportrag.ingest.corpus import discover
    from reportrag.langid import LanguageDetector
    from reportrag.ingest.pipeline import run_ingest
    from reportrag.embedding import load_embedder
    from reportrag.store import MilvusStore

    corpus, db, models = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    emb = load_embedder("intfloat/multilingual-e5-small", models_dir=models)
    store = MilvusStore(db, "t_ingest", 384)
    store.connect()
    store.ensure_collection(emb.fingerprint())
    real_upsert, calls = store.upsert, []
    def upsert(chunks, vectors, **kw):
        real_upsert(chunks, vectors, **kw)
        calls.append(1)
        if len(calls) == 3:  # die hard in the middle of the second document
            os.kill(os.getpid(), signal.SIGKILL)
    store.upsert = upsert
    run_ingest(discover(corpus), embedder=emb, store=store, detector=LanguageDetector(),
               chunk_tokens=256, overlap_tokens=32, progress=False, prune_doc_ids=True,
               write_batch=16)
""")


def test_killed_run_converges_to_the_same_collection(
    small_corpus, tmp_path, embedder, models_dir
) -> None:
    clean_dir, crash_dir = tmp_path / "clean", tmp_path / "crash"
    clean_dir.mkdir()
    crash_dir.mkdir()
    clean = _store(clean_dir)
    _ingest(small_corpus, clean, embedder)
    expected = _snapshot(clean)
    clean.close()

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _CRASHER,
            str(small_corpus),
            str(crash_dir / "milvus.db"),
            str(models_dir),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]

    crashed = _store(crash_dir)
    crashed.ensure_collection(embedder.fingerprint())  # reopened: loads the collection
    partial = _snapshot(crashed)
    assert 0 < len(partial) < len(expected)
    # What searches see of each document is all of it or nothing: the one being written
    # when the process died stays out of sight.
    per_doc = {d: len(clean_ids) for d, clean_ids in _doc_sizes(expected).items()}
    shown = {d: len(crashed.chunks_of(d)) for d in per_doc}
    assert all(shown[d] in (0, per_doc[d]) for d in per_doc), (shown, per_doc)
    assert 0 < sum(shown.values()) < len(expected)
    hits = crashed.rank_dense(embedder.embed_query("open source"), Filters(), 200, rows=True)
    assert {h.chunk.doc_id for h in hits} == {d for d in shown if shown[d]}
    summary = _ingest(small_corpus, crashed, embedder)
    assert summary.embedded == len(expected) - len(partial)
    assert _snapshot(crashed) == expected
    assert crashed.count() == len(expected)
    crashed.close()


def test_chunks_respect_the_real_token_limit_and_languages(embedder) -> None:
    detector = LanguageDetector()
    by_file = {Path(d.path).name: d for d in discover(REPO / "corpus")}
    results = {}
    for name, meta in by_file.items():
        _, chunks = prepare_document(
            meta, embedder=embedder, detector=detector, chunk_tokens=320, overlap_tokens=48
        )
        results[name] = chunks
        for c in chunks:
            assert c.token_count == embedder.count_tokens(c.text) <= 320
    assert {c.lang for c in results["001_01d7e7f86c812082.txt"]} == {"zh"}
    assert {c.lang for c in results["003_18194aaf734a0421.txt"]} == {"de"}
    en_edition = results["000_a4d6d44b88908d33.txt"]
    tail_rows = [c for c in en_edition if "ChatYuan-large-v2" in c.text or "tigerbot" in c.text]
    assert tail_rows and all(c.lang == "zh" for c in tail_rows)
    assert sum(c.lang == "en" for c in en_edition) > 0.9 * len(en_edition)


def _cli(argv: list[str], monkeypatch, tmp_path: Path, corpus: Path, **env: str) -> int:
    from reportrag.settings import get_settings

    monkeypatch.setenv("REPORTRAG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("REPORTRAG_CORPUS_DIR", str(corpus))
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    try:
        return cli_main(argv)
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize(
    "name,content,message",
    [
        ("empty.txt", b"", "empty"),
        ("binary.txt", b"\x00\x01\x02PNG\x00" * 100, "binary"),
        ("gbk.txt", "开源软件的商业化路径与挑战".encode("gbk") * 20, "UTF-8"),
    ],
)
def test_bad_files_fail_with_one_line_naming_the_file(
    name, content, message, tmp_path, monkeypatch, capsys, models_dir
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / name).write_bytes(content)
    monkeypatch.setenv("REPORTRAG_MODEL", str(next(models_dir.glob("multilingual-e5-small-*"))))
    code = _cli(["ingest", str(corpus / name)], monkeypatch, tmp_path, corpus)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and name in err[0] and message in err[0], err


def test_huge_file_is_refused(tmp_path, monkeypatch, capsys, models_dir) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    with (corpus / "huge.txt").open("w") as f:
        f.write("open source report text. " * (50 * 1024 * 1024 // 25 + 1))
    monkeypatch.setenv("REPORTRAG_MODEL", str(next(models_dir.glob("multilingual-e5-small-*"))))
    code = _cli(["ingest", str(corpus / "huge.txt")], monkeypatch, tmp_path, corpus)
    err = capsys.readouterr().err.strip()
    assert code == 2 and "huge.txt" in err and "more than the limit" in err
    assert "52,428,825 bytes" in err and "20,971,520 bytes (20 MiB)" in err  # exact, not "21 MB"


def test_a_document_over_the_chunk_budget_is_refused_before_it_is_chunked(
    small_corpus, tmp_path, embedder, monkeypatch
) -> None:
    import reportrag.ingest.plan as plan_module

    big = small_corpus / "zz-big.txt"
    big.write_text("Open source licences, funding rounds and community growth. " * 20000)
    store = _store(tmp_path)
    store.ensure_collection(embedder.fingerprint())
    chunked: list[str] = []
    real = plan_module.chunk_document

    def chunk_document(meta, *a, **kw):
        chunked.append(Path(meta.path).name)
        return real(meta, *a, **kw)

    monkeypatch.setattr(plan_module, "chunk_document", chunk_document)
    with pytest.raises(DocumentError, match=r"zz-big\.txt: .* over the limit of 300 ") as err:
        _ingest(small_corpus, store, embedder, max_chunks=300)
    assert err.value.details["limit_chunks"] == 300 and err.value.details["chunks"] > 300
    assert "zz-big.txt" not in chunked  # refused from its token count, not after chunking
    assert "zz-big" not in store.all_doc_ids()  # nothing of it was written
    # The documents under the budget before it were stored, whole and searchable.
    assert all(len(store.chunks_of(d)) == len(store.doc_index(d)) for d in store.all_doc_ids())
    store.close()


@pytest.mark.parametrize(
    "manifest,message",
    [
        ('[[documents]]\nfile = "a.txt"\ncolour = "red"\n', "unknown key"),
        ('[[documents]]\nfile = "a.txt"\ndate = 2024\n', "must be a string"),
        ('[[documents]]\nfile = "a.txt"\ndate = "14.08.2024"\n', "YYYY-MM-DD"),
        ("[[documents]\n", "not valid TOML"),
    ],
)
def test_bad_manifest_is_one_line(manifest, message, tmp_path, monkeypatch, capsys) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Some text about open source.", encoding="utf-8")
    (corpus / "manifest.toml").write_text(manifest, encoding="utf-8")
    code = _cli(["ingest", "--dry-run"], monkeypatch, tmp_path, corpus)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "manifest.toml" in err[0] and message in err[0], err


def test_unreachable_milvus_is_one_line_and_loses_nothing(
    small_corpus, tmp_path, monkeypatch, capsys, embedder, models_dir
) -> None:
    monkeypatch.setenv("REPORTRAG_MODEL", str(next(models_dir.glob("multilingual-e5-small-*"))))
    assert _cli(["ingest", "--no-progress"], monkeypatch, tmp_path, small_corpus) == 0
    db = tmp_path / "data" / "milvus.db"
    store = MilvusStore(str(db), "reportrag_chunks", 384)
    store.connect()
    before = store.count()
    store.close()
    capsys.readouterr()
    code = _cli(
        ["ingest"],
        monkeypatch,
        tmp_path,
        small_corpus,
        REPORTRAG_MILVUS_URI="http://127.0.0.1:1",
        REPORTRAG_MILVUS_TIMEOUT="2",
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 4 and len(err) == 1 and "127.0.0.1:1" in err[0], err
    store = MilvusStore(str(db), "reportrag_chunks", 384)
    store.connect()
    assert store.count() == before > 0
    store.close()


@pytest.mark.integration
def test_idempotent_ingest_on_the_milvus_server(small_corpus, embedder) -> None:
    import uuid

    uri = os.environ.get("REPORTRAG_TEST_MILVUS_URI")
    if not uri:
        pytest.skip("REPORTRAG_TEST_MILVUS_URI not set (scripts/test.sh starts a server)")
    store = MilvusStore(uri, f"t_ingest_{uuid.uuid4().hex[:8]}", 384, timeout=30)
    store.connect()
    try:
        first = _ingest(small_corpus, store, embedder)
        assert first.embedded == first.chunks > 0
        before = _snapshot(store)
        second = _ingest(small_corpus, store, embedder)
        assert (second.added, second.updated, second.deleted, second.embedded) == (0, 0, 0, 0)
        assert _snapshot(store) == before and store.count() == first.chunks
    finally:
        store.drop()
        store.close()


def test_no_text_is_lost_with_the_real_tokenizer(embedder) -> None:
    """Chunks (minus overlaps) give back the cleaned text of every corpus file."""
    import re

    from reportrag.ingest.chunking import reassemble
    from reportrag.ingest.clean import clean_text

    detector = LanguageDetector()
    for meta in discover(REPO / "corpus"):
        raw = Path(meta.path).read_text(encoding="utf-8")
        cleaned = clean_text(raw, source=meta.path)
        _, chunks = prepare_document(
            meta, embedder=embedder, detector=detector, chunk_tokens=320, overlap_tokens=48
        )
        pieces = []
        for c in chunks:
            start = cleaned.to_clean_offset(c.char_start)
            assert cleaned.text[start : start + len(c.text)] == c.text
            pieces.append((start, c.text))
        rebuilt = reassemble(pieces)
        assert re.sub(r"\s+", "", rebuilt) == re.sub(r"\s+", "", cleaned.text), meta.path


def test_a_dry_run_writes_nothing_not_even_the_model_or_the_database(
    small_corpus, tmp_path, monkeypatch, capsys
) -> None:
    code = _cli(["ingest", "--dry-run", "--json"], monkeypatch, tmp_path, small_corpus)
    out = capsys.readouterr().out
    assert code == 0, out
    summary = json.loads(out)
    assert summary["dry_run"] is True and summary["documents"] == len(SMALL)
    assert summary["chunks"] == summary["added"] > 0 and summary["embedded"] == 0
    assert not (tmp_path / "data").exists()  # no database, no model directory, no lock file

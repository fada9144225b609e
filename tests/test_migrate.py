"""``reportrag migrate`` and the library under it, between Milvus Lite and the real server.

Most tests use the store contract's sample chunks (dim 8, no model); the last ones migrate
the real ingested corpus both ways and compare search results.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from reportrag.api.cli import main as cli_main
from reportrag.errors import FingerprintMismatchError, InputError, NotFoundError, StoreError
from reportrag.settings import get_settings
from reportrag.store import IndexConfig, MilvusStore
from reportrag.store.migrate import _only_in_second, _Reservoir, migrate, same_collection
from reportrag.types import Counterpart, Filters
from tests.test_store_contract import DIM, FINGERPRINT, make_chunks, unit_vectors

SERVER_URI = os.environ.get("REPORTRAG_TEST_MILVUS_URI", "")
needs_server = [
    pytest.mark.integration,
    pytest.mark.skipif(not SERVER_URI, reason="REPORTRAG_TEST_MILVUS_URI not set"),
]
PAIRS = [
    pytest.param("lite", "lite", id="lite-to-lite"),
    pytest.param("lite", "server", id="lite-to-server", marks=needs_server),
    pytest.param("server", "lite", id="server-to-lite", marks=needs_server),
]

Opened = Callable[..., MilvusStore]
# The server loads a collection in the background; on a busy CI box (the whole suite on two
# cores) that took over 30 s once: the tests give Milvus longer than the product default.
TIMEOUT = 90.0


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Opened]:
    """Connected stores on 'lite' or 'server'; every collection made here is dropped after."""
    made: list[MilvusStore] = []

    def open_store(kind: str, name: str | None = None, dim: int = DIM) -> MilvusStore:
        uri = str(tmp_path / f"{kind}.db") if kind == "lite" else SERVER_URI
        store = MilvusStore(uri, name or f"t_mig_{uuid.uuid4().hex[:10]}", dim, timeout=TIMEOUT)
        store.connect()
        made.append(store)
        return store

    yield open_store
    for store in reversed(made):
        store.connect()
        try:
            if store.has_collection():
                store.drop()
        finally:
            store.close()


def _source(open_store: Opened, kind: str) -> tuple[MilvusStore, list, np.ndarray]:
    store = open_store(kind)
    store.ensure_collection(FINGERPRINT)
    chunks, vectors = make_chunks(), unit_vectors(len(make_chunks()))
    chunks[1].counterparts = [Counterpart(chunks[4].chunk_id, "zh", 0.91)]
    store.upsert(chunks, vectors)
    return store, chunks, vectors


def _target(open_store: Opened, kind: str, source: MilvusStore) -> MilvusStore:
    # A second collection; for lite-to-lite a second database file, as a real move would be.
    store = open_store(kind)
    if kind == "lite" and source._uri == store._uri:
        store = MilvusStore(source._uri.replace("lite.db", "lite2.db"), store.collection, DIM)
        store.connect()
    return store


def _copy(src: MilvusStore, dst: MilvusStore, **kwargs: object):
    return migrate(
        src._uri,
        dst._uri,
        source_collection=src.collection,
        target_collection=dst.collection,
        timeout=TIMEOUT,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(("src_kind", "dst_kind"), PAIRS)
def test_migration_copies_everything_and_reruns_change_nothing(
    stores: Opened, src_kind: str, dst_kind: str
) -> None:
    src, chunks, vectors = _source(stores, src_kind)
    dst = _target(stores, dst_kind, src)
    report = _copy(src, dst, batch=4)
    assert (report.created, report.added, report.updated, report.unchanged) == (True, 9, 0, 0)
    assert (report.batches, report.target_rows, report.sampled, report.extra) == (3, 9, 9, 0)
    assert (report.source_kind, report.target_kind) == (src_kind, dst_kind)

    dst.ensure_collection(FINGERPRINT)  # refreshes the dialect to the new collection
    assert dst.fingerprint() == src.fingerprint()
    got, got_vectors = dst.get_with_vectors([c.chunk_id for c in chunks])
    assert got == chunks  # every field, counterparts included
    np.testing.assert_allclose(got_vectors, vectors, atol=1e-6)
    # The target's own dialect: Lite gets (and fills) a BM25 field, a 2.3 server has none.
    assert report.target_bm25 is dst.capabilities.bm25
    if dst_kind == "lite":
        assert report.target_bm25 is True
        assert dst.rank_text("venture capital funding", Filters(), 1)[0].chunk_id == "rep-en:1"
    for q in range(4):
        want = [h.chunk_id for h in src.rank_dense(vectors[q], Filters(), 5)]
        assert [h.chunk_id for h in dst.rank_dense(vectors[q], Filters(), 5)] == want

    again = _copy(src, dst, batch=4)
    assert (again.created, again.added, again.updated, again.unchanged) == (False, 0, 0, 9)
    assert again.target_rows == 9


@pytest.mark.parametrize(("src_kind", "dst_kind"), PAIRS[:2])
def test_an_interrupted_migration_converges_on_rerun(
    stores: Opened, src_kind: str, dst_kind: str
) -> None:
    src, chunks, _ = _source(stores, src_kind)
    dst = _target(stores, dst_kind, src)

    def stop_after_two(number: int, rows: int) -> None:
        if number == 2:
            raise KeyboardInterrupt  # what Ctrl-C (or a kill) does between two pages

    with pytest.raises(KeyboardInterrupt):
        _copy(src, dst, batch=3, on_batch=stop_after_two)
    assert dst.count() == 6
    report = _copy(src, dst, batch=3)
    assert (report.created, report.added, report.unchanged, report.target_rows) == (
        False,
        3,
        6,
        9,
    )


def test_changed_rows_are_rewritten(stores: Opened) -> None:
    src, chunks, vectors = _source(stores, "lite")
    dst = _target(stores, "lite", src)
    _copy(src, dst)
    dst.ensure_collection(FINGERPRINT)
    stale = make_chunks()[2]
    stale.text = "an older text"
    dst.upsert([stale], -vectors[2:3])
    dst.upsert([make_chunks()[5]], unit_vectors(1, seed=99))  # same fields, another vector
    report = _copy(src, dst)
    assert (report.added, report.updated, report.unchanged) == (0, 2, 7)
    got, got_vectors = dst.get_with_vectors([chunks[2].chunk_id, chunks[5].chunk_id])
    assert got == [chunks[2], chunks[5]]
    np.testing.assert_allclose(got_vectors, vectors[[2, 5]], atol=1e-6)


def test_rows_only_in_the_target_are_reported_and_deleted_only_when_asked(
    stores: Opened,
) -> None:
    src, chunks, vectors = _source(stores, "lite")
    dst = _target(stores, "lite", src)
    _copy(src, dst)
    dst.ensure_collection(FINGERPRINT)
    orphan = make_chunks()[0]
    orphan.chunk_id = "zz-orphan:0"
    first = make_chunks()[0]
    first.chunk_id = "00-orphan:0"  # sorts before every source id
    dst.upsert([orphan, first], vectors[:2])

    kept = _copy(src, dst)
    assert (kept.extra, kept.deleted, kept.target_rows) == (2, 0, 11)
    assert kept.extra_ids == ["00-orphan:0", "zz-orphan:0"]
    dry = _copy(src, dst, delete_extra=True, dry_run=True)
    assert (dry.extra, dry.deleted, dry.target_rows) == (2, 0, 11)
    gone = _copy(src, dst, delete_extra=True)
    assert (gone.extra, gone.deleted, gone.target_rows) == (2, 2, 9)
    assert dst.count() == 9 and dst.get(["zz-orphan:0", "00-orphan:0"]) == []


def test_dry_run_writes_nothing(stores: Opened, tmp_path: Path) -> None:
    src, _, _ = _source(stores, "lite")
    dst = _target(stores, "lite", src)
    report = _copy(src, dst, dry_run=True)
    assert (report.dry_run, report.created, report.added, report.sampled) == (True, True, 9, 0)
    assert (report.target_kind, report.target_bm25, report.target_index) == ("lite", True, "FLAT")
    assert not dst.has_collection()
    new_file = tmp_path / "never" / "made" / "milvus.db"
    report = migrate(src._uri, str(new_file), source_collection=src.collection,
                     target_collection="c", dry_run=True)
    assert report.added == 9 and not (tmp_path / "never").exists()  # no database, no folder
    report = migrate(src._uri, str(new_file), source_collection=src.collection,
                     target_collection="c")  # a real run creates the folder it needs
    assert report.added == 9 and new_file.exists()


@pytest.mark.parametrize("dst_kind", ["lite", pytest.param("server", marks=needs_server)])
def test_a_target_with_another_model_is_refused_untouched(stores: Opened, dst_kind: str) -> None:
    src, _, vectors = _source(stores, "lite")
    dst = _target(stores, dst_kind, src)
    dst.ensure_collection({**FINGERPRINT, "model": "another/model"})
    dst.upsert(make_chunks()[:1], vectors[:1])
    with pytest.raises(FingerprintMismatchError, match="another embedding model") as err:
        _copy(src, dst)
    assert "another/model" in err.value.message and "test/random-unit" in err.value.message
    assert dst.count() == 1


def test_a_target_with_another_dim_is_refused(stores: Opened) -> None:
    src, _, _ = _source(stores, "lite")
    other = MilvusStore(src._uri.replace("lite.db", "lite2.db"), "four_d", 4)
    other.connect()
    other.ensure_collection(FINGERPRINT)  # same fingerprint text, 4-d vectors
    with pytest.raises(FingerprintMismatchError, match="4-d"):
        migrate(src._uri, other._uri, source_collection=src.collection,
                target_collection="four_d")
    assert other.count() == 0
    other.close()


def test_verification_catches_a_target_that_differs(stores: Opened) -> None:
    src, chunks, vectors = _source(stores, "lite")
    dst = _target(stores, "lite", src)

    def corrupt_after_last(number: int, rows: int) -> None:
        if number == 3:  # after the copy, before the verification reads the sample
            dst.ensure_collection(FINGERPRINT)
            dst.upsert([chunks[0]], vectors[1:2])

    with pytest.raises(StoreError, match="verification failed: 1 of 9 sampled rows differ"):
        _copy(src, dst, batch=4, on_batch=corrupt_after_last)


def test_missing_sources_are_not_found(stores: Opened, tmp_path: Path) -> None:
    src, _, _ = _source(stores, "lite")
    with pytest.raises(NotFoundError, match="no_such"):
        migrate(src._uri, str(tmp_path / "t.db"), source_collection="no_such",
                target_collection="t")
    with pytest.raises(NotFoundError, match="no Milvus Lite database"):
        migrate(str(tmp_path / "none.db"), str(tmp_path / "t.db"), source_collection="c",
                target_collection="t")
    assert not (tmp_path / "none.db").exists() and not (tmp_path / "t.db").exists()


@pytest.mark.parametrize(
    "kwargs",
    [{"batch": 0}, {"batch": 16385}, {"batch": True}, {"sample": -1}],
)
def test_bad_arguments_are_input_errors(tmp_path: Path, kwargs: dict) -> None:
    with pytest.raises(InputError):
        migrate(str(tmp_path / "a.db"), str(tmp_path / "b.db"), source_collection="c",
                target_collection="c", **kwargs)


def test_same_collection_is_refused(tmp_path: Path) -> None:
    uri = str(tmp_path / "a.db")
    assert same_collection(uri, "c", str(tmp_path / "." / "a.db"), "c")
    assert same_collection("http://h:19530/", "c", "HTTP://h:19530", "c")
    assert not same_collection(uri, "c", uri, "d")
    with pytest.raises(InputError, match="same collection"):
        migrate(uri, uri, source_collection="c", target_collection="c")


def test_index_settings_shape_the_new_target(stores: Opened) -> None:
    src, _, vectors = _source(stores, "lite")
    dst = _target(stores, "lite", src)
    report = _copy(src, dst, index=IndexConfig(kind="IVF_FLAT", ivf_nlist=4, ivf_nprobe=4))
    assert report.target_index == "IVF_FLAT"
    reopened = MilvusStore.open_existing(dst._uri, dst.collection)
    assert reopened.vector_index == "IVF_FLAT"
    assert reopened.rank_dense(vectors[3], Filters(), 1)[0].chunk_id == "rep-zh:0"
    reopened.close()


# -- the pieces -----------------------------------------------------------------------------


def test_merge_finds_ids_only_in_the_second_stream() -> None:
    a = iter([["a", "c"], ["e", "g"]])
    b = iter([["0", "a", "b"], ["c", "d", "g", "h"]])
    assert list(_only_in_second(a, b)) == ["0", "b", "d", "h"]
    assert list(_only_in_second(iter([]), iter([["x"]]))) == ["x"]
    assert list(_only_in_second(iter([["x"]]), iter([]))) == []
    with pytest.raises(StoreError, match="ascending"):
        list(_only_in_second(iter([["b", "a"]]), iter([["c"]])))


def test_reservoir_samples_uniformly() -> None:
    small = _Reservoir(5, seed=1)
    small.offer(["a", "b"])
    assert small.items == ["a", "b"]
    counts = np.zeros(100)
    for seed in range(2000):
        r = _Reservoir(10, seed=seed)
        for start in range(0, 100, 7):  # offered in uneven pages, as scans deliver them
            r.offer([str(i) for i in range(start, min(start + 7, 100))])
        assert len(set(r.items)) == 10
        counts[[int(i) for i in r.items]] += 1
    # Each item is kept with probability 10/100: 200 of 2000 draws, give or take ~4 sigma.
    assert counts.min() > 140 and counts.max() < 260


# -- the command line -------------------------------------------------------------------------


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys):
    monkeypatch.setenv("REPORTRAG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("REPORTRAG_MILVUS_TIMEOUT", "2")
    get_settings.cache_clear()

    def run(*argv: str) -> tuple[int, str, str]:
        code = cli_main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    yield run
    get_settings.cache_clear()


def test_cli_migrates_and_prints_json(stores: Opened, cli) -> None:
    src, _, _ = _source(stores, "lite")
    target = str(Path(src._uri).with_name("cli.db"))
    code, out, err = cli(
        "migrate", "--from", src._uri, "--from-collection", src.collection, "--to", target,
        "--batch", "4", "--json",
    )
    body = json.loads(out)
    assert code == 0 and body["added"] == 9 and body["target_collection"] == src.collection
    assert body["sampled"] == 9 and body["created"] is True
    code, out, _ = cli(
        "migrate", "--from", src._uri, "--from-collection", src.collection, "--to", target,
    )
    assert code == 0 and "0 added, 0 updated, 9 unchanged" in out and "verified: 9 rows" in out


@pytest.mark.parametrize(
    ("argv", "code", "needle"),
    [
        (["--from", "ftp://x", "--to", "{tmp}/t.db"], 2, "not a Milvus URI: 'ftp://x'"),
        (["--from", "{src}", "--to", "http://host:notaport"], 2, "not a Milvus URI"),
        (["--from", "{tmp}/none.db", "--to", "{tmp}/t.db"], 5, "no Milvus Lite database"),
        (["--from", "{src}", "--from-collection", "nope", "--to", "{tmp}/t.db"], 5, "'nope'"),
        (["--from", "{src}", "--to", "{src}"], 2, "same collection"),
        (["--from", "{src}", "--to", "{tmp}/t.db", "--batch", "0"], 2, "--batch"),
        (["--from", "{src}", "--to", "{tmp}/t.db", "--sample", "-3"], 2, "--sample"),
        (["--from", "{src}", "--to", "{tmp}/t.db", "--to-token-env", "RR_NO_SUCH_VAR"], 2,
         "RR_NO_SUCH_VAR"),
        (["--from", "http://127.0.0.1:1", "--to", "{tmp}/t.db"], 4, "did not answer"),
        (["--from", "{src}", "--to", "{mismatch}"], 4, "another embedding model"),
    ],
)
def test_cli_errors_are_one_line(
    stores: Opened, cli, tmp_path: Path, argv: list[str], code: int, needle: str
) -> None:
    src, _, _ = _source(stores, "lite")
    other = MilvusStore(str(tmp_path / "other.db"), src.collection, DIM)
    other.connect()
    other.ensure_collection({**FINGERPRINT, "model": "another/model"})
    other.close()
    values = {"tmp": str(tmp_path), "src": src._uri, "mismatch": str(tmp_path / "other.db")}
    full = ["migrate", *[a.format(**values) for a in argv]]
    if "--from-collection" not in argv:
        full += ["--from-collection", src.collection]
    got, out, err = cli(*full)
    lines = err.strip().splitlines()
    assert got == code and len(lines) == 1 and lines[0].startswith("reportrag: error: "), err
    assert needle in lines[0], lines[0]
    assert out == ""
    assert not (tmp_path / "t.db").exists()  # nothing created on a refused run


# -- the real corpus, both ways ------------------------------------------------------------------


def ids(hits: list) -> set[str]:
    return {h.chunk_id for h in hits}


def scores(hits: list) -> list[float]:
    return [h.score for h in hits]


@pytest.mark.slow
@pytest.mark.integration
def test_the_ingested_corpus_survives_lite_to_server_and_back(
    lite_settings, embedder, tmp_path: Path
) -> None:
    if not SERVER_URI:
        pytest.skip("REPORTRAG_TEST_MILVUS_URI not set")
    source_uri = lite_settings.resolved_milvus_uri
    name = f"t_corpus_{uuid.uuid4().hex[:8]}"
    back_uri = str(tmp_path / "back.db")
    queries = [
        "How many A100 GPUs does ChatGPT need?",
        "开源商业化的模式有哪些？",
        "Wie verdienen Open-Source-Firmen Geld?",
    ]
    src = MilvusStore.open_existing(source_uri, lite_settings.collection)
    server = MilvusStore(SERVER_URI, name, src.dim, timeout=TIMEOUT)
    try:
        to_server = migrate(source_uri, SERVER_URI, source_collection=lite_settings.collection,
                            target_collection=name, batch=100, timeout=TIMEOUT)
        assert to_server.added == to_server.source_rows == src.count() > 300
        assert (to_server.target_kind, to_server.target_bm25, to_server.sampled) == (
            "server", False, 200)
        back = migrate(SERVER_URI, back_uri, source_collection=name,
                       target_collection=lite_settings.collection, batch=100, timeout=TIMEOUT)
        assert back.added == to_server.source_rows and back.target_bm25 is True
        server.connect()
        server.ensure_collection(src.fingerprint() or {})
        returned = MilvusStore.open_existing(back_uri, lite_settings.collection)
        for q in queries:
            vec = embedder.embed_query(q)
            for filters in (Filters(), Filters(lang=("zh",))):
                want = src.rank_dense(vec, filters, 10)
                for store in (server, returned):
                    got = store.rank_dense(vec, filters, 10)
                    # Same hits; only exact score ties (overlapping chunks) may swap places.
                    assert got[0].chunk_id == want[0].chunk_id, (q, store)
                    assert len(ids(got) & ids(want)) >= 9, (q, store)
                    np.testing.assert_allclose(scores(got), scores(want), atol=1e-4)
        # BM25 came back: Lite computed it from the text the server carried.
        assert src.rank_text("A100", Filters(), 3) and returned.rank_text("A100", Filters(), 3)
        want = src.rank_text("开源 商业化", Filters(), 5)
        got = returned.rank_text("开源 商业化", Filters(), 5)
        # Same hits; scores differ a little: the source's BM25 statistics still count the rows
        # that ingestion rewrote (deleted, not yet compacted), the fresh copy's do not.
        assert ids(got) == ids(want)
        returned.close()
    finally:
        src.close()
        server.connect()
        if server.has_collection():
            server.drop()
        server.close()


def test_document_translations_travel_with_the_collection(stores: Opened) -> None:
    from reportrag.types import Translation

    src, _, _ = _source(stores, "lite")
    records = {
        "rep-en": [Translation("rep-zh", 0.97, "declared")],
        "rep-zh": [Translation("rep-en", 0.97, "declared")],
    }
    assert src.set_document_translations(records) == 2
    dst = _target(stores, "lite", src)
    report = _copy(src, dst)
    assert report.translations == 2 and report.sampled == 9  # the sample still matches
    dst.ensure_collection(FINGERPRINT)
    assert dst.document_translations() == records
    assert _copy(src, dst).translations == 0

"""Copy a chunk collection from one Milvus deployment to another (Lite, standalone, cluster).

The source is read in primary-key pages (never all rows at once). Each page is compared with
what the target already holds under the same ids and only missing or different rows are
upserted, so an interrupted run, re-run, picks up where it stopped and a finished one changes
nothing. The target collection is created with the *target* deployment's own dialect: copying
from Milvus Lite to a 2.3 server drops the BM25 field (the server has none), copying back
creates it and Lite's BM25 function fills it from ``text``. Afterwards the id sets are merged
(rows only the target holds are reported, and deleted only when asked) and a random sample
of rows is compared field by field and vector by vector.
"""

from __future__ import annotations

import logging
import random
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from reportrag.embedding.base import PASSAGE_PRECISION, with_fingerprint_defaults
from reportrag.errors import FingerprintMismatchError, InputError, StoreError
from reportrag.store.capabilities import IndexConfig
from reportrag.store.errors import redact_uri
from reportrag.store.milvus import MilvusStore
from reportrag.store.reads import MAX_PAGE
from reportrag.types import Chunk

log = logging.getLogger(__name__)

VECTOR_ATOL = 1e-6  # float32 values travel as floats; anything beyond rounding is a defect
EXTRA_IDS_SHOWN = 20

BatchHook = Callable[[int, int], None]  # (batch number from 1, rows read in it)


@dataclass
class MigrationReport:
    """What a migration found and did (or, with ``dry_run``, would do)."""

    source: str
    source_collection: str
    target: str
    target_collection: str
    dry_run: bool
    source_kind: str = ""
    target_kind: str = ""
    target_index: str = ""
    target_bm25: bool = False
    created: bool = False  # the target collection was (or would be) created by this run
    source_rows: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    extra: int = 0  # rows the target holds and the source does not
    extra_ids: list[str] = field(default_factory=list)  # the first EXTRA_IDS_SHOWN of them
    deleted: int = 0
    target_rows: int = 0  # after the run (in a dry run: as it is)
    batches: int = 0
    sampled: int = 0  # rows compared field by field after copying
    translations: int = 0  # documents whose translation records were (re)written
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def same_collection(a_uri: str, a_collection: str, b_uri: str, b_collection: str) -> bool:
    """Whether two (uri, collection) pairs name the same collection."""

    def norm(uri: str) -> str:
        if uri.endswith(".db") and "://" not in uri:
            return str(Path(uri).resolve())
        return uri.rstrip("/").lower()

    return a_collection == b_collection and norm(a_uri) == norm(b_uri)


def migrate(
    source_uri: str,
    target_uri: str,
    *,
    source_collection: str,
    target_collection: str,
    source_token: str | None = None,
    target_token: str | None = None,
    timeout: float = 30.0,
    index: IndexConfig | None = None,
    batch: int = 1000,
    dry_run: bool = False,
    delete_extra: bool = False,
    sample: int = 200,
    seed: int | None = None,
    on_batch: BatchHook | None = None,
) -> MigrationReport:
    """Copy ``source_collection`` at ``source_uri`` into ``target_collection`` at ``target_uri``.

    Raises NotFoundError (no such source), FingerprintMismatchError (the target exists with
    another model or dim), InputError (bad arguments), StoreError (Milvus refused, or the
    copy does not verify).
    """
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= MAX_PAGE:
        raise InputError(f"--batch must be an integer in 1..{MAX_PAGE}, not {batch!r}")
    if isinstance(sample, bool) or not isinstance(sample, int) or sample < 0:
        raise InputError(f"--sample must be a non-negative integer, not {sample!r}")
    if same_collection(source_uri, source_collection, target_uri, target_collection):
        raise InputError(
            f"source and target are the same collection ({source_collection} at "
            f"{redact_uri(source_uri)})"
        )
    started = time.monotonic()
    report = MigrationReport(
        source=redact_uri(source_uri),
        source_collection=source_collection,
        target=redact_uri(target_uri),
        target_collection=target_collection,
        dry_run=dry_run,
    )
    # The target is checked before the source is opened only as far as its URI goes:
    # construct it first so a malformed target URI fails before any connection is made.
    MilvusStore(target_uri, target_collection, 1, token=target_token, timeout=timeout)
    source = MilvusStore.open_existing(
        source_uri, source_collection, token=source_token, timeout=timeout
    )
    # Connecting to a Lite path creates the database (its folder too, here); a dry run must
    # leave neither behind.
    leftover: Path | None = None
    if target_uri.endswith(".db") and "://" not in target_uri and not Path(target_uri).exists():
        leftover = Path(target_uri).absolute()
        while not leftover.parent.exists():
            leftover = leftover.parent
        Path(target_uri).parent.mkdir(parents=True, exist_ok=True)
    try:
        target = MilvusStore(
            target_uri,
            target_collection,
            source.dim,
            token=target_token,
            timeout=timeout,
            index=index or IndexConfig(),
        )
        target.connect()
        try:
            _run(source, target, report, batch, dry_run, delete_extra, sample, seed, on_batch)
        finally:
            target.close()
            if dry_run and leftover is not None:
                shutil.rmtree(leftover, ignore_errors=True)
    finally:
        source.close()
    report.seconds = round(time.monotonic() - started, 3)
    log.info(
        "migrate %s -> %s: %d added, %d updated, %d unchanged, %d extra (%d deleted) in %.1fs",
        source_collection,
        target_collection,
        report.added,
        report.updated,
        report.unchanged,
        report.extra,
        report.deleted,
        report.seconds,
    )
    return report


def _run(
    source: MilvusStore,
    target: MilvusStore,
    report: MigrationReport,
    batch: int,
    dry_run: bool,
    delete_extra: bool,
    sample: int,
    seed: int | None,
    on_batch: BatchHook | None,
) -> None:
    fingerprint = source.fingerprint() or {}
    report.source_kind = source.capabilities.kind
    report.target_kind = target.capabilities.kind
    report.source_rows = source.count()
    exists = target.has_collection()
    if exists:
        _check_target(target, report.target, fingerprint)
        target.ensure_collection(fingerprint)  # loads it; refuses a dim mismatch too
    elif not dry_run:
        target.ensure_collection(fingerprint)
    report.created = not exists
    report.target_index = target.vector_index
    report.target_bm25 = target.capabilities.bm25  # of the collection, or of a new one

    # One batch of writes: on a Lite target flushed once and consolidated (BM25 statistics).
    with nullcontext() if dry_run else target.batched_writes():
        reservoir = _Reservoir(sample, seed)
        for number, (chunks, vectors) in enumerate(source.scan_with_vectors(batch), 1):
            reservoir.offer(c.chunk_id for c in chunks)
            held = _held(target, chunks) if exists or not dry_run else {}
            write: list[int] = []
            for i, chunk in enumerate(chunks):
                have = held.get(chunk.chunk_id)
                if have is None:
                    report.added += 1
                    write.append(i)
                elif have[0] != chunk or not np.allclose(have[1], vectors[i], atol=VECTOR_ATOL):
                    report.updated += 1
                    write.append(i)
                else:
                    report.unchanged += 1
            if write and not dry_run:
                target.upsert([chunks[i] for i in write], vectors[write])
            report.batches = number
            if on_batch is not None:
                on_batch(number, len(chunks))

        if not dry_run:
            report.translations = _copy_translations(source, target)
            types = source.metadata_types(fresh=True)
            if types and target.metadata_types(fresh=True) != types:
                target.set_metadata_types(types)  # what metadata filters check against
        if exists or not dry_run:
            _extras(source, target, report, delete_extra and not dry_run)
            report.target_rows = target.count()
    if not dry_run:
        _verify(source, target, report, reservoir.items)


def _copy_translations(source: MilvusStore, target: MilvusStore) -> int:
    """Carry the documents' translation records, which rows copied as chunks do not hold.

    They live in the JSON of each document's first chunk beside its counterparts, and a
    Chunk has no place for them; so they are written afterwards, where they differ.
    """
    wanted = source.document_translations()
    held = target.document_translations()
    changes = {
        d: ts for d, ts in wanted.items() if held.get(d) != ts
    } | {d: [] for d in held if d not in wanted}
    return target.set_document_translations(changes) if changes else 0


def _check_target(target: MilvusStore, where: str, fingerprint: dict[str, Any]) -> None:
    stored = target.fingerprint()
    # A key an older reportrag did not write reads as what it built with (float passages).
    if stored is None or with_fingerprint_defaults(stored) != with_fingerprint_defaults(
        fingerprint
    ):
        raise FingerprintMismatchError(
            f"target collection {target.collection} at {where} was built "
            f"with another embedding model than the source (stored {_model(stored)}, "
            f"source {_model(fingerprint)}); migrate into a new collection or drop it",
            details={"stored": stored, "source": fingerprint},
        )


def _model(fingerprint: dict[str, Any] | None) -> str:
    if not fingerprint:
        return "no fingerprint"
    precision = with_fingerprint_defaults(fingerprint)[PASSAGE_PRECISION]
    return (f"{fingerprint.get('model', '?')}, dim {fingerprint.get('dim', '?')}, "
            f"{precision} passages")


def _held(target: MilvusStore, chunks: list[Chunk]) -> dict[str, tuple[Chunk, np.ndarray]]:
    got, vectors = target.get_with_vectors([c.chunk_id for c in chunks])
    return {c.chunk_id: (c, v) for c, v in zip(got, vectors, strict=True)}


def _extras(
    source: MilvusStore, target: MilvusStore, report: MigrationReport, delete: bool
) -> None:
    """Merge the two sorted id streams: ids only the target has are extras."""
    doomed: list[str] = []
    for extra in _only_in_second(source.scan_ids(), target.scan_ids()):
        report.extra += 1
        if len(report.extra_ids) < EXTRA_IDS_SHOWN:
            report.extra_ids.append(extra)
        if delete:
            doomed.append(extra)
            if len(doomed) >= 1000:
                report.deleted += target.delete(doomed)
                doomed = []
    if doomed:
        report.deleted += target.delete(doomed)


def _ascending(pages: Iterator[list[str]]) -> Iterator[str]:
    last: str | None = None
    for page in pages:
        for item in page:
            if last is not None and item <= last:
                # The merge below is only right on strictly ascending streams.
                raise StoreError(f"id scan is not in ascending order at {item!r}")
            last = item
            yield item


def _only_in_second(first: Iterator[list[str]], second: Iterator[list[str]]) -> Iterator[str]:
    a_it, b_it = _ascending(first), _ascending(second)
    a = next(a_it, None)
    for b in b_it:
        while a is not None and a < b:
            a = next(a_it, None)
        if a != b:
            yield b


def _verify(
    source: MilvusStore, target: MilvusStore, report: MigrationReport, ids: list[str]
) -> None:
    expected = report.source_rows + report.extra - report.deleted
    if report.target_rows != expected:
        raise StoreError(
            f"verification failed: the target holds {report.target_rows} rows, expected "
            f"{expected} ({report.source_rows} from the source + {report.extra - report.deleted}"
            " extra)",
            details=report.to_dict(),
        )
    if not ids:
        return
    src_chunks, src_vecs = source.get_with_vectors(ids)
    dst_chunks, dst_vecs = target.get_with_vectors(ids)
    dst = {c.chunk_id: (c, v) for c, v in zip(dst_chunks, dst_vecs, strict=True)}
    bad = [
        c.chunk_id
        for c, v in zip(src_chunks, src_vecs, strict=True)
        if c.chunk_id not in dst
        or dst[c.chunk_id][0] != c
        or not np.allclose(dst[c.chunk_id][1], v, atol=VECTOR_ATOL)
    ]
    if bad:
        raise StoreError(
            f"verification failed: {len(bad)} of {len(src_chunks)} sampled rows differ in the "
            f"target (first: {bad[0]})",
            details={"differing_ids": bad[:EXTRA_IDS_SHOWN], **report.to_dict()},
        )
    report.sampled = len(src_chunks)


class _Reservoir:
    """A uniform random sample of ``k`` items from a stream of unknown length (Algorithm R)."""

    def __init__(self, k: int, seed: int | None) -> None:
        self.k = k
        self.items: list[str] = []
        self._seen = 0
        self._rng = random.Random(seed)

    def offer(self, items: Iterator[str] | list[str]) -> None:
        for item in items:
            self._seen += 1
            if len(self.items) < self.k:
                self.items.append(item)
            else:
                j = self._rng.randrange(self._seen)
                if j < self.k:
                    self.items[j] = item

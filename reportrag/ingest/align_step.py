"""After a run's writes: align the translation pairs that are not known to be current.

The checkpoint decides what can be skipped: detection runs unless it records one for exactly
this set of documents (and nothing was re-ingested or pruned since); a pair is re-aligned
unless both its documents were skipped and the checkpoint records their alignment.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

from reportrag.ingest.checkpoint import Checkpoint, pair_key
from reportrag.ingest.report import Tracker
from reportrag.types import DocumentMeta

if TYPE_CHECKING:
    from reportrag.store.protocols import WriteStore


def align_documents(
    docs: list[DocumentMeta],
    metas: list[DocumentMeta],
    store: WriteStore,
    keys: dict[str, str],
    skipped: set[str],
    checkpoint: Checkpoint | None,
    track: Tracker,
    pruned: bool,
) -> tuple[list[dict[str, object]], dict[str, object]]:
    """Declared ∪ detected translation pairs: align those not known to be current.

    Detection runs unless the checkpoint records it for exactly this set of documents and
    nothing was re-ingested or pruned since (then the recorded detected pairs stand).
    """
    from reportrag.ingest.translations import sync_translations

    changed = {m.doc_id for m in metas} - skipped
    detect_key = detection_key(metas, keys)
    detect = checkpoint is None or bool(changed) or pruned or not checkpoint.detection_done(
        detect_key
    )

    def current(a: str, b: str) -> bool:
        # Both documents skipped and the checkpoint records the alignment for their present
        # keys. Any other pair is aligned (~0.1 s a pair, and it rewrites only chunks whose
        # counterparts changed), so a lost alignment heals.
        return (
            checkpoint is not None
            and {a, b} <= skipped
            and checkpoint.pair_done(a, b, pair_key(keys[a], keys[b]))
        )

    track.wrote = track.wrote or detect  # a failure inside may follow a write
    sync = sync_translations(
        metas,
        store=store,
        declared_langs={d.doc_id: d.lang for d in docs if d.lang},
        is_current=current,
        detect=detect,
    )
    track.wrote = track.wrote or bool(sync.reports or sync.unlinked or sync.records_written)
    if checkpoint is not None:
        for r in sync.reports:
            # A rejected pair is not done: detected again, it must be aligned (and dropped)
            # again, not taken as current and recorded.
            if r.aligned and not r.rejected and r.src_doc in keys and r.tgt_doc in keys:
                checkpoint.mark_pair(
                    r.src_doc, r.tgt_doc, pair_key(keys[r.src_doc], keys[r.tgt_doc])
                )
        if detect:
            checkpoint.mark_detection(detect_key)
    return [asdict(r) for r in sync.reports], sync.detection


def detection_key(metas: list[DocumentMeta], keys: dict[str, str]) -> str:
    """The documents a detection saw: their ids and keys (bytes, metadata, settings, code)."""
    seen = sorted(f"{m.doc_id}={keys.get(m.doc_id, '')}" for m in metas)
    return pair_key("detect", "|".join(seen))

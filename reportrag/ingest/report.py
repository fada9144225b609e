"""What an ingestion run reports: its counts, its stages as it goes, and how it ended.

A failure after the run wrote something becomes an :class:`IngestIncompleteError` saying so
(never the "nothing happened" of a store error); the run's outcome reaches the progress
metrics (reportrag/telemetry.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

from reportrag import telemetry
from reportrag.errors import CancelledError, IngestIncompleteError, InputError, ReportragError
from reportrag.ingest.jobs import JobState
from reportrag.ingest.plan import DocumentPlan

# Called with the job state an ingestion run enters (parsing, embedding, writing) and its counts.
StageCallback = Callable[[JobState, dict[str, int]], None]


def no_stage(state: str, progress: dict[str, int]) -> None:
    """No one is watching the stages of this run."""


@dataclass
class IngestSummary:
    """Counts and timing of one ingestion run (``--json`` prints this)."""

    documents: int = 0
    chunks: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    embedded: int = 0
    skipped_documents: int = 0  # finished by an earlier run (checkpoint): not even chunked
    seconds: float = 0.0
    embed_seconds: float = 0.0
    write_wait_seconds: float = 0.0  # embedding blocked on a full write queue (back-pressure)
    consolidated: int = 0  # rows rewritten into one segment afterwards (Milvus Lite)
    dry_run: bool = False
    per_document: list[dict[str, object]] = field(default_factory=list)
    alignments: list[dict[str, object]] = field(default_factory=list)
    # whether translation pairs were detected this run, what it examined and how long it took
    translation_detection: dict[str, object] = field(default_factory=dict)
    refused: list[dict[str, str]] = field(default_factory=list)  # folder entries not ingested

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def count(self, plan: DocumentPlan) -> None:
        """Add one planned document to the totals."""
        self.chunks += len(plan.chunks)
        self.added += len(plan.to_embed)
        self.updated += len(plan.to_rewrite)
        self.unchanged += plan.unchanged
        self.deleted += len(plan.stale_ids)
        self.per_document.append(
            {
                "doc_id": plan.meta.doc_id,
                "chunks": len(plan.chunks),
                "added": len(plan.to_embed),
                "updated": len(plan.to_rewrite),
                "unchanged": plan.unchanged,
                "deleted": len(plan.stale_ids),
            }
        )


@dataclass
class Tracker:
    """How far a run got: whether it wrote anything, how many documents it published."""

    wrote: bool = False
    done: int = 0


@contextmanager
def observed(documents: int, *, observe: bool) -> Iterator[None]:
    """The run's progress metrics (reportrag/telemetry.py): running, then its outcome."""
    if not observe:
        yield
        return
    telemetry.ingest_started(documents)
    outcome = "failed"
    try:
        yield
        outcome = "ok"
    except CancelledError:
        outcome = "cancelled"
        raise
    finally:
        telemetry.ingest_finished(outcome)


@contextmanager
def reporting_writes(track: Tracker) -> Iterator[None]:
    """A failure after the run wrote something becomes an IngestIncompleteError saying so."""
    try:
        yield
    except (InputError, CancelledError):
        raise  # nothing half-done is visible: the input is refused, or the run stopped
    except (ReportragError, OSError) as exc:
        if not track.wrote:
            raise
        reason = exc.message if isinstance(exc, ReportragError) else _os_reason(exc)
        raise IngestIncompleteError(
            f"ingestion stopped after writing to Milvus: {reason}. The {track.done} "
            "document(s) finished before that are stored and searchable, the others not; "
            "fix the cause and run the ingestion again: it finishes the rest",
            details={"written": True, "documents_done": track.done, "reason": reason[:500]},
        ) from exc


def _os_reason(exc: OSError) -> str:
    # No file names: the message may reach an HTTP client.
    return exc.strerror or type(exc).__name__

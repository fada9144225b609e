"""A checkpoint of the documents an ingestion has fully written, so re-runs skip them.

One append-only JSON-lines file per collection (``<data_dir>/checkpoints/``). A document is
*done* once its new rows are written and its stale rows deleted; it is recorded with a key
that digests everything its chunks depend on: the file's bytes, its manifest metadata, the
chunking settings, the embedding model's fingerprint and the ingestion code itself. A later
run that computes the same key skips the document without chunking it or asking Milvus.

The file belongs to one *generation* of the collection (a random id stored as a collection
property when the collection is created): a dropped and re-created collection has a new
generation, and the old checkpoint is discarded. A run killed mid-way leaves the documents
it finished recorded and the rest not, so the re-run resumes where it stopped. A torn last
line (killed while appending) is ignored.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import fields
from functools import lru_cache
from pathlib import Path
from typing import Any

from reportrag.types import DocumentMeta

log = logging.getLogger(__name__)

FORMAT = 1
# Code that decides what a document's chunks are: a change to any of it invalidates keys.
_CODE_ROOTS = ("ingest", "langid", "prose.py", "types.py")  # under reportrag/


def code_files() -> list[Path]:
    """The source files of the modules that turn a file into chunks, in digest order."""
    root = Path(__file__).resolve().parent.parent
    files: list[Path] = []
    for rel in _CODE_ROOTS:
        target = root / rel
        files += sorted(target.rglob("*.py")) if target.is_dir() else [target]
    return files


@lru_cache(maxsize=1)
def code_digest() -> str:
    """sha256 over the source of the modules that turn a file into chunks."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for f in code_files():
        h.update(f.relative_to(root).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def run_digest(*, chunk_tokens: int, overlap_tokens: int, fingerprint: dict[str, object]) -> str:
    """What every document key of one run shares: settings, model and code."""
    payload = {
        "chunk_tokens": chunk_tokens,
        "overlap_tokens": overlap_tokens,
        "fingerprint": fingerprint,
        "code": code_digest(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def document_key(meta: DocumentMeta, data: bytes, run: str) -> str:
    """The key of one document's input: its bytes, its metadata (not its path) and the run."""
    h = hashlib.sha256(run.encode())
    for f in fields(meta):
        if f.name != "path":
            value = getattr(meta, f.name)
            if isinstance(value, dict):
                value = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
            h.update(f"\x00{f.name}={value}".encode())
    h.update(b"\x00data=")
    h.update(hashlib.sha256(data).digest())
    return h.hexdigest()[:32]


def pair_key(a: str, b: str) -> str:
    """The key of an alignment: the keys of its two documents."""
    return hashlib.sha256(f"{a}|{b}".encode()).hexdigest()[:32]


def checkpoint_path(data_dir: Path, uri: str, collection: str) -> Path:
    """Where the checkpoint of ``collection`` at ``uri`` lives."""
    where = hashlib.sha256(uri.encode()).hexdigest()[:10]
    return data_dir / "checkpoints" / f"{collection}-{where}.jsonl"


class Checkpoint:
    """Done documents (doc_id -> key, chunk count) and done alignments of one generation."""

    def __init__(self, path: Path, generation: str) -> None:
        self.path = path
        self.generation = generation
        self._docs: dict[str, tuple[str, int]] = {}
        self._pairs: dict[str, str] = {}
        self._detection = ""  # key of the documents the last translation detection saw
        self._rewrite_first = False
        self._load()

    def _load(self) -> None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = ""
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("checkpoint %s unreadable (%s): starting afresh", self.path, exc)
            text = ""
        records = []
        torn = False
        for line in text.splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                torn = True  # a line cut short by a killed append
                continue
            if isinstance(rec, dict):
                records.append(rec)
        head = records[0] if records else {}
        if head.get("format") != FORMAT or head.get("generation") != self.generation:
            if records:
                log.info("checkpoint %s is for another collection generation: reset", self.path)
            self._rewrite_first = True  # written with the first entry, not before
            return
        for rec in records[1:]:
            self._apply(rec)
        # Appending after a torn line would glue the new record to it: rewrite first.
        self._rewrite_first = torn or not text.endswith("\n")

    def _apply(self, rec: dict[str, Any]) -> None:
        if "doc" in rec and "key" in rec:
            self._docs[str(rec["doc"])] = (str(rec["key"]), int(rec.get("chunks", 0)))
        elif "forget" in rec:
            gone = str(rec["forget"])
            self._docs.pop(gone, None)
            self._pairs = {p: k for p, k in self._pairs.items() if gone not in p.split("|")}
        elif "pair" in rec and "key" in rec:
            self._pairs[str(rec["pair"])] = str(rec["key"])
        elif "detection" in rec:
            self._detection = str(rec["detection"])

    def _header(self) -> dict[str, Any]:
        return {"format": FORMAT, "generation": self.generation}

    def _rewrite(self) -> None:
        """Write the current state as a fresh file (atomically: temp file, then rename)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        recs = [self._header()]
        recs += [{"doc": d, "key": k, "chunks": n} for d, (k, n) in sorted(self._docs.items())]
        recs += [{"pair": p, "key": k} for p, k in sorted(self._pairs.items())]
        if self._detection:
            recs.append({"detection": self._detection})
        with tmp.open("w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in recs)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        self._rewrite_first = False

    def _append(self, rec: dict[str, Any]) -> None:
        self._apply(rec)
        if self._rewrite_first:
            self._rewrite()  # header plus everything, this record included
            return
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(rec) + "\n")

    def done_chunks(self, doc_id: str, key: str) -> int | None:
        """The chunk count of ``doc_id`` if it is done with this key, else None."""
        entry = self._docs.get(doc_id)
        return entry[1] if entry is not None and entry[0] == key else None

    def mark_done(self, doc_id: str, key: str, chunks: int) -> None:
        self._append({"doc": doc_id, "key": key, "chunks": chunks})

    def forget(self, doc_id: str) -> None:
        """Drop a document (deleted, or about to change) and the alignments that include it."""
        if doc_id in self._docs or any(doc_id in p.split("|") for p in self._pairs):
            self._append({"forget": doc_id})

    def pair_done(self, a: str, b: str, key: str) -> bool:
        return self._pairs.get(f"{a}|{b}") == key

    def mark_pair(self, a: str, b: str, key: str) -> None:
        self._append({"pair": f"{a}|{b}", "key": key})

    def detection_done(self, key: str) -> bool:
        """Whether translation pairs were last detected over exactly these documents."""
        return bool(key) and self._detection == key

    def mark_detection(self, key: str) -> None:
        if self._detection != key:
            self._append({"detection": key})

    def compact(self) -> None:
        """Rewrite the file with one line per entry (after a run that changed something)."""
        if not self._rewrite_first:
            self._rewrite()

    def __len__(self) -> int:
        return len(self._docs)


def forget_document(data_dir: Path, uri: str, collection: str, doc_id: str) -> None:
    """Drop ``doc_id`` from a collection's checkpoint, whatever its generation (if any)."""
    path = checkpoint_path(data_dir, uri, collection)
    if not path.is_file():
        return
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"forget": doc_id}) + "\n")

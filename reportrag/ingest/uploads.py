"""Uploaded documents: their original bytes and metadata, kept under the data directory.

Each uploaded document is a folder ``<data_dir>/uploads/<doc_id>/`` holding ``original<.ext>``
(the bytes as sent) and ``document.json`` (file name, sha256, size, metadata, when). Whole
ingestions (``reportrag ingest``, ``--full``, ``--rebuild``, migrations) read them next to
the corpus folder, so a collection can always be rebuilt from what the data directory holds.

A document is written to a temporary folder and renamed into place (a replacement swaps the
folder), so a reader sees the old version or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reportrag.errors import DocumentError, InputError, UnsupportedTypeError
from reportrag.ids import MAX_ID, default_doc_id
from reportrag.ingest.corpus import DATE_RE, DOC_ID_RE, LANG_RE, document_meta
from reportrag.ingest.formats import SUFFIXES
from reportrag.metadata import KEY_PATTERN, value_type
from reportrag.rules import KIND_PATTERN
from reportrag.types import DocumentMeta

UPLOADS_DIR = "uploads"
RECORD = "document.json"
MAX_FILENAME = 255
_KIND = re.compile(KIND_PATTERN)  # the kinds a search can filter by
# The fixed fields an upload's metadata may set; every other key is user metadata.
DOCUMENT_KEYS = ("doc_id", "title", "lang", "kind", "date", "translation_of", "source")
MAX_METADATA_KEYS = 64
MAX_METADATA_JSON = 16 * 1024
_META_KEY = re.compile(KEY_PATTERN)


@dataclass(frozen=True)
class Upload:
    """One uploaded document as recorded."""

    doc_id: str
    filename: str  # the name it was sent with (for display; never used as a path)
    suffix: str
    sha256: str
    bytes: int
    fields: dict[str, str] = field(default_factory=dict)  # title, lang, kind, ...
    metadata: dict[str, Any] = field(default_factory=dict)
    added_at: float = 0.0

    def record(self) -> dict[str, Any]:
        return {
            "doc_id": self.doc_id, "filename": self.filename, "suffix": self.suffix,
            "sha256": self.sha256, "bytes": self.bytes, "fields": self.fields,
            "metadata": self.metadata, "added_at": self.added_at,
        }


def check_filename(name: str) -> str:
    """The file name of an upload, or InputError: no path, no control character, not too long."""
    if not name or not name.strip():
        raise InputError("the upload has no file name", details={"filename": name})
    if len(name) > MAX_FILENAME:
        raise InputError(
            f"file name of {len(name)} characters; at most {MAX_FILENAME}",
            details={"limit": MAX_FILENAME},
        )
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise InputError("the file name holds control characters (NUL, newline, …)")
    if "/" in name or "\\" in name or name in (".", "..") or name.startswith("."):
        raise InputError(
            "the file name must be a plain name (no folder, no '..', not hidden)",
            details={"filename": name[:MAX_FILENAME]},
        )
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIXES:
        raise UnsupportedTypeError(
            f"{name}: not a supported document type; supported: {', '.join(SUFFIXES)}",
            details={"filename": name, "supported": list(SUFFIXES)},
        )
    return name


def split_metadata(values: dict[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
    """(document fields, user metadata) from an upload's metadata; InputError when invalid.

    User metadata values are strings, numbers, booleans or lists of strings; dates are
    strings ``YYYY-MM-DD`` (compared as such by filters).
    """
    if not isinstance(values, dict):
        raise InputError("metadata must be a JSON object")
    fields: dict[str, str] = {}
    for key in DOCUMENT_KEYS:
        if key in values and values[key] not in (None, ""):
            if not isinstance(values[key], str):
                raise InputError(f"metadata.{key} must be a string", details={"key": key})
            fields[key] = values[key]
    _check_fields(fields)
    extra = values.get("metadata", {})
    inline = {k: v for k, v in values.items() if k not in DOCUMENT_KEYS and k != "metadata"}
    if not isinstance(extra, dict):
        raise InputError("metadata.metadata must be a JSON object")
    user = {**inline, **extra}
    check_user_metadata(user)
    return fields, user


def _check_fields(fields: dict[str, str]) -> None:
    checks = {
        "doc_id": (DOC_ID_RE, "letters, digits, '.', '_', '-', at most 128, starting alphanumeric"),
        "translation_of": (DOC_ID_RE, "a doc id"),
        "date": (DATE_RE, "YYYY-MM-DD"),
        "lang": (LANG_RE, "an ISO 639 code like 'en'"),
        "kind": (_KIND, "letters, digits, '_' or '-', at most 64, starting alphanumeric"),
    }
    for key, (pattern, what) in checks.items():
        if key in fields and not pattern.fullmatch(fields[key]):
            raise InputError(f"metadata.{key} {fields[key][:80]!r} must be {what}",
                             details={"key": key})
    for key in ("title", "source"):
        if len(fields.get(key, "")) > 1000:
            raise InputError(f"metadata.{key} is longer than 1000 characters",
                             details={"key": key})


def check_user_metadata(user: dict[str, Any]) -> None:
    """InputError unless every key is an identifier and every value a supported type."""
    if len(user) > MAX_METADATA_KEYS:
        raise InputError(f"{len(user)} metadata keys; at most {MAX_METADATA_KEYS}")
    for key, value in user.items():
        if not isinstance(key, str) or not _META_KEY.fullmatch(key):
            raise InputError(
                f"metadata key {str(key)[:80]!r} must be an identifier (letters, digits, '_')",
                details={"key": str(key)[:80]},
            )
        try:
            value_type(value)  # the types filters know (reportrag/metadata.py)
        except InputError as exc:
            raise InputError(
                f"metadata.{key}: {type(value).__name__} is not a supported value "
                "(string, finite number, boolean or a list of strings)",
                details={"key": key, "type": type(value).__name__},
            ) from exc
    if len(json.dumps(user, ensure_ascii=False)) > MAX_METADATA_JSON:
        raise InputError(f"metadata is larger than {MAX_METADATA_JSON:,} characters of JSON")


class UploadStore:
    """The uploaded documents of one data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / UPLOADS_DIR

    def _dir(self, doc_id: str) -> Path:
        if not DOC_ID_RE.fullmatch(doc_id):
            raise InputError(f"{doc_id[:80]!r} is not a document id")
        return self.root / doc_id

    def doc_id_for(self, filename: str, fields: dict[str, str]) -> str:
        """The id an upload gets: the one its metadata names, else one from its file name."""
        return fields.get("doc_id") or default_doc_id(Path(filename))[:MAX_ID]

    def get(self, doc_id: str) -> Upload | None:
        path = self._dir(doc_id) / RECORD
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise DocumentError(f"upload {doc_id}: its record cannot be read ({exc})") from exc
        return Upload(**data)

    def original(self, upload: Upload) -> Path:
        return self._dir(upload.doc_id) / f"original{upload.suffix}"

    def put(
        self, doc_id: str, filename: str, data: bytes, fields: dict[str, str],
        metadata: dict[str, Any], *, dry: bool = False,
    ) -> tuple[Upload, bool]:
        """Store (or replace) a document; (its record, whether anything changed).

        ``dry``: only say whether it would change (nothing is written).
        """
        suffix = Path(filename).suffix.lower()
        digest = hashlib.sha256(data).hexdigest()
        fields = {k: v for k, v in fields.items() if k != "doc_id"}
        old = self.get(doc_id)
        if old is not None and (old.sha256, old.suffix, old.fields, old.metadata) == (
            digest, suffix, fields, metadata
        ):
            return old, False
        upload = Upload(doc_id, filename, suffix, digest, len(data), fields, metadata,
                        round(time.time(), 3))
        if dry:
            return upload, True
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{doc_id}.", dir=self.root))
        try:
            (tmp / f"original{suffix}").write_bytes(data)
            (tmp / RECORD).write_text(
                json.dumps(upload.record(), ensure_ascii=False, sort_keys=True), encoding="utf-8"
            )
            for f in tmp.iterdir():
                _fsync(f)
            target = self._dir(doc_id)
            if target.exists():
                trash = Path(tempfile.mkdtemp(prefix=f".{doc_id}.old.", dir=self.root))
                os.replace(target, trash / "gone")
                os.replace(tmp, target)
                shutil.rmtree(trash, ignore_errors=True)
            else:
                os.replace(tmp, target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return upload, True

    def remove(self, doc_id: str) -> bool:
        target = self._dir(doc_id)
        if not target.exists():
            return False
        trash = Path(tempfile.mkdtemp(prefix=f".{doc_id}.old.", dir=self.root))
        os.replace(target, trash / "gone")
        shutil.rmtree(trash, ignore_errors=True)
        return True

    def all(self) -> list[Upload]:
        if not self.root.is_dir():
            return []
        out = []
        for entry in sorted(self.root.iterdir()):
            if entry.name.startswith(".") or not entry.is_dir():
                continue
            upload = self.get(entry.name)
            if upload is not None:
                out.append(upload)
        return out

    def meta(self, upload: Upload) -> DocumentMeta:
        entry = {**upload.fields, "metadata": upload.metadata}
        return document_meta(self.original(upload), upload.doc_id, entry)

    def documents(self) -> list[DocumentMeta]:
        return [self.meta(u) for u in self.all()]


def _fsync(path: Path) -> None:
    with path.open("rb") as fh:
        os.fsync(fh.fileno())

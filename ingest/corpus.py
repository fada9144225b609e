"""The corpus: which files to ingest and what the manifest says about each."""

from __future__ import annotations

import re
import tomllib
from dataclasses import fields
from pathlib import Path

from reportrag.errors import DocumentError, ManifestError
from reportrag.types import DocumentMeta

MANIFEST_NAME = "manifest.toml"
DOC_SUFFIXES = {".txt", ".md", ".markdown"}
_SKIP_NAMES = {"README.md", "readme.md", "README.txt"}
_KEYS = {"file", "doc_id", "title", "lang", "kind", "date", "translation_of", "source"}
_DOC_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_LANG = re.compile(r"[a-z]{2,3}")


def default_doc_id(path: Path) -> str:
    """A doc id from a file name: lower-case, safe characters only."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem).strip("-._").lower()
    return (stem or "doc")[:128]


def _validate_entry(entry: object, where: str) -> dict[str, str]:
    if not isinstance(entry, dict):
        raise ManifestError(f"{where}: each [[documents]] entry must be a table")
    unknown = set(entry) - _KEYS
    if unknown:
        raise ManifestError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_KEYS)}")
    if "file" not in entry:
        raise ManifestError(f"{where}: entry without 'file'")
    for key, val in entry.items():
        if not isinstance(val, str):
            raise ManifestError(f"{where}: '{key}' must be a string, not {type(val).__name__}")
    if "doc_id" in entry and not _DOC_ID.fullmatch(entry["doc_id"]):
        raise ManifestError(f"{where}: doc_id {entry['doc_id']!r} must match {_DOC_ID.pattern}")
    if entry.get("date") and not _DATE.fullmatch(entry["date"]):
        raise ManifestError(f"{where}: date {entry['date']!r} must be YYYY-MM-DD")
    if entry.get("lang") and not _LANG.fullmatch(entry["lang"]):
        raise ManifestError(f"{where}: lang {entry['lang']!r} must be an ISO 639 code like 'en'")
    return dict(entry)


def load_manifest(corpus_dir: Path) -> dict[str, dict[str, str]]:
    """Manifest entries keyed by file name ({} when there is no manifest)."""
    path = corpus_dir / MANIFEST_NAME
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: not valid TOML ({exc})") from exc
    unknown = set(data) - {"documents"}
    if unknown:
        raise ManifestError(f"{path}: unknown top-level key(s) {sorted(unknown)}")
    docs = data.get("documents", [])
    if not isinstance(docs, list):
        raise ManifestError(f"{path}: 'documents' must be an array of tables ([[documents]])")
    out: dict[str, dict[str, str]] = {}
    for i, entry in enumerate(docs):
        clean = _validate_entry(entry, f"{path} documents[{i}]")
        if clean["file"] in out:
            raise ManifestError(f"{path}: file {clean['file']!r} listed twice")
        out[clean["file"]] = clean
    ids = [e.get("doc_id") for e in out.values() if e.get("doc_id")]
    if len(ids) != len(set(ids)):
        raise ManifestError(f"{path}: duplicate doc_id")
    return out


def discover(corpus_dir: Path, paths: list[Path] | None = None) -> list[DocumentMeta]:
    """The documents to ingest: ``paths`` (files or folders) or every text file of the corpus."""
    if not corpus_dir.is_dir() and not paths:
        raise DocumentError(f"corpus folder {corpus_dir} does not exist (REPORTRAG_CORPUS_DIR)")
    manifest = load_manifest(corpus_dir) if corpus_dir.is_dir() else {}
    files: list[Path] = []
    for p in paths or [corpus_dir]:
        if p.is_dir():
            files += sorted(
                f
                for f in p.iterdir()
                if f.suffix.lower() in DOC_SUFFIXES and f.name not in _SKIP_NAMES
            )
        elif p.is_file():
            files.append(p)
        else:
            raise DocumentError(f"{p}: no such file or folder")
    docs: list[DocumentMeta] = []
    seen: dict[str, Path] = {}
    for f in files:
        entry = manifest.get(f.name, {}) if f.parent.resolve() == corpus_dir.resolve() else {}
        meta = DocumentMeta(
            doc_id=entry.get("doc_id") or default_doc_id(f),
            path=str(f),
            title=entry.get("title", ""),
            lang=entry.get("lang", ""),
            kind=entry.get("kind", "article"),
            date=entry.get("date", ""),
            translation_of=entry.get("translation_of", ""),
            source=entry.get("source", ""),
        )
        if meta.doc_id in seen:
            raise DocumentError(f"{f}: doc_id {meta.doc_id!r} is also used by {seen[meta.doc_id]}")
        seen[meta.doc_id] = f
        docs.append(meta)
    return docs


def with_defaults(meta: DocumentMeta, cleaned_text: str, detected_lang: str) -> DocumentMeta:
    """Fill title and language from the text when the manifest did not give them."""
    values = {f.name: getattr(meta, f.name) for f in fields(meta)}
    if not values["title"]:
        first = next((ln.strip(" #\t") for ln in cleaned_text.splitlines() if ln.strip()), "")
        values["title"] = first[:200] or Path(meta.path).stem
    if not values["lang"]:
        values["lang"] = detected_lang
    return DocumentMeta(**values)

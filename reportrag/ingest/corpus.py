"""The corpus: which files to ingest and what the manifest says about each."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import stat
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from reportrag.errors import DocumentError, InputError, ManifestError
from reportrag.ids import DOC_ID_PATTERN, MAX_ID, default_doc_id
from reportrag.ingest.document import ParsedDocument
from reportrag.ingest.formats import SUFFIXES
from reportrag.rules import DATE
from reportrag.types import DocumentMeta

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.toml"
DOC_SUFFIXES = set(SUFFIXES)
_KEYS = {
    "file", "doc_id", "title", "lang", "kind", "date", "translation_of", "source", "metadata"
}
# What a document's id, date and language may be (the manifest's and an upload's alike).
DOC_ID_RE = re.compile(DOC_ID_PATTERN)
DATE_RE = re.compile(DATE)
LANG_RE = re.compile(r"[a-z]{2,3}")
_SUFFIX_LEN = 6  # hex digits of the file name's hash that tell colliding ids apart


@dataclass(frozen=True)
class Refused:
    """A file in a corpus folder that is not ingested, and why."""

    file: str
    reason: str


@dataclass
class Discovery:
    """The documents of a run, and the folder entries that were refused."""

    documents: list[DocumentMeta] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)


def not_a_document(path: Path) -> str | None:
    """Why a file is never a document (by its name), or None."""
    name = path.name
    if name == MANIFEST_NAME:
        return "the corpus manifest, not a document"
    if name.lower().startswith("readme."):
        return "a README describes the folder; it is not ingested"
    if name.startswith("."):
        return "a hidden file"
    if path.suffix.lower() not in DOC_SUFFIXES:
        return f"not a supported document type (supported: {', '.join(sorted(DOC_SUFFIXES))})"
    return None


def _suffixed(path: Path) -> str:
    digest = hashlib.sha256(path.name.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{default_doc_id(path)[: MAX_ID - _SUFFIX_LEN - 1]}-{digest[:_SUFFIX_LEN]}"


def assign_doc_ids(files: list[Path], manifest: dict[str, dict[str, str]]) -> dict[Path, str]:
    """The doc id of every file of one folder: the manifest's, else one from the file name.

    Ids depend only on the folder's listing, never on which of its files a run names, so a
    run over one file gives it the id a whole-folder run gives it. File names that would
    share an id (``a.txt`` and ``a.md``, or names that transliterate alike) each get a short
    hash of their own name appended; an id still shared is an error naming both files.
    """
    explicit = {
        f: manifest[f.name]["doc_id"] for f in files if manifest.get(f.name, {}).get("doc_id")
    }
    defaults = {f: default_doc_id(f) for f in files if f not in explicit}
    taken: dict[str, int] = {}
    for doc_id in [*explicit.values(), *defaults.values()]:
        taken[doc_id] = taken.get(doc_id, 0) + 1
    ids = dict(explicit)
    for f, doc_id in defaults.items():
        ids[f] = _suffixed(f) if taken[doc_id] > 1 else doc_id
    owner: dict[str, Path] = {}
    for f, doc_id in ids.items():
        if doc_id in owner:
            raise DocumentError(
                f"{f.name} and {owner[doc_id].name} would both be document {doc_id!r}: "
                "rename one, or give each a doc_id in manifest.toml",
                details={"files": [owner[doc_id].name, f.name], "doc_id": doc_id},
            )
        owner[doc_id] = f
    return ids


def _validate_entry(entry: object, where: str) -> dict[str, str]:
    if not isinstance(entry, dict):
        raise ManifestError(f"{where}: each [[documents]] entry must be a table")
    unknown = set(entry) - _KEYS
    if unknown:
        raise ManifestError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_KEYS)}")
    if "file" not in entry:
        raise ManifestError(f"{where}: entry without 'file'")
    for key, val in entry.items():
        if key == "metadata":
            if not isinstance(val, dict):
                raise ManifestError(f"{where}: 'metadata' must be a table of key = value")
            from reportrag.ingest.uploads import check_user_metadata

            try:
                check_user_metadata(val)
            except InputError as exc:
                raise ManifestError(f"{where}: {exc.message}") from exc
            continue
        if not isinstance(val, str):
            raise ManifestError(f"{where}: '{key}' must be a string, not {type(val).__name__}")
    if "doc_id" in entry and not DOC_ID_RE.fullmatch(entry["doc_id"]):
        raise ManifestError(f"{where}: doc_id {entry['doc_id']!r} must match {DOC_ID_RE.pattern}")
    if entry.get("date") and not DATE_RE.fullmatch(entry["date"]):
        raise ManifestError(f"{where}: date {entry['date']!r} must be YYYY-MM-DD")
    if entry.get("lang") and not LANG_RE.fullmatch(entry["lang"]):
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


def _entry_problem(entry: Path, root: Path) -> str | None:
    """Why a folder entry with a document's name cannot be read as one, or None."""
    if entry.is_symlink():
        target = entry.resolve()
        if target != root and root not in target.parents:
            return "a symbolic link to a file outside the corpus folder"
    try:
        mode = os.stat(entry).st_mode
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if not stat.S_ISREG(mode):
        return "not a regular file"
    return None


def list_folder(folder: Path) -> tuple[list[Path], list[Refused]]:
    """The document files of one folder (not its subfolders), and the entries refused.

    A corpus is the set of regular files inside its folder: a symbolic link is followed only
    when it stays inside, and pipes, devices and sockets are never opened. Names that are not
    documents (the manifest, README files, hidden files, other types) are left out silently.
    """
    root = folder.resolve()
    files: list[Path] = []
    refused: list[Refused] = []
    for entry in sorted(folder.iterdir()):
        if not_a_document(entry) is not None or entry.is_dir():
            continue
        problem = _entry_problem(entry, root)
        if problem is None:
            files.append(entry)
        else:
            refused.append(Refused(entry.name, problem))
            log.warning("not ingesting %s: %s", entry.name, problem)
    return files, refused


def document_meta(f: Path, doc_id: str, entry: dict[str, Any]) -> DocumentMeta:
    """A document's metadata from a manifest entry (or an upload's record) and defaults."""
    return DocumentMeta(
        doc_id=doc_id,
        path=str(f),
        title=entry.get("title", ""),
        lang=entry.get("lang", ""),
        kind=entry.get("kind", "article"),
        date=entry.get("date", ""),
        translation_of=entry.get("translation_of", ""),
        source=entry.get("source", ""),
        metadata=dict(entry.get("metadata", {})),
    )


class _Folder:
    """One folder's listing, manifest and doc ids, read once per run."""

    def __init__(self, folder: Path) -> None:
        self.manifest = load_manifest(folder)
        self.files, self.refused = list_folder(folder)
        self.ids = assign_doc_ids(self.files, self.manifest)

    def meta(self, f: Path) -> DocumentMeta:
        return document_meta(f, self.ids[f], self.manifest.get(f.name, {}))


def find_documents(corpus_dir: Path, paths: list[Path] | None = None) -> Discovery:
    """The documents of a run: ``paths`` (files or folders) or every document of the corpus.

    A folder brings its own ``manifest.toml``; a file is described by the manifest of the
    folder it is in and gets the doc id a run over that whole folder would give it. A file
    named explicitly that is not a document (the manifest, a README, another type, a pipe)
    is an error, never ingested.
    """
    if not paths:
        if not corpus_dir.is_dir():
            raise DocumentError(
                f"corpus folder {corpus_dir} does not exist (REPORTRAG_CORPUS_DIR)"
            )
        paths = [corpus_dir]
    folders: dict[Path, _Folder] = {}

    def folder_of(path: Path) -> _Folder:
        key = path.resolve()
        if key not in folders:
            folders[key] = _Folder(path)
        return folders[key]

    out = Discovery()
    seen: dict[str, Path] = {}
    for p in paths:
        if p.is_dir():
            listing = folder_of(p)
            chosen = listing.files
            out.refused += listing.refused
        elif p.exists() or p.is_symlink():
            reason = not_a_document(p) or _entry_problem(p, p.resolve().parent)
            if reason is not None:
                raise DocumentError(f"{p.name}: {reason}", details={"file": p.name})
            listing = folder_of(p.parent)
            chosen = [f for f in listing.files if f.name == p.name]
            if not chosen:  # listed by name, refused by the folder (e.g. a link that leaves it)
                why = next((r.reason for r in listing.refused if r.file == p.name), "refused")
                raise DocumentError(f"{p.name}: {why}", details={"file": p.name})
        else:
            raise DocumentError(f"{p}: no such file or folder")
        for f in chosen:
            meta = listing.meta(f)
            other = seen.get(meta.doc_id)
            if other is not None and other.resolve() != f.resolve():
                raise DocumentError(
                    f"{f} and {other} would both be document {meta.doc_id!r}",
                    details={"doc_id": meta.doc_id},
                )
            if other is None:
                seen[meta.doc_id] = f
                out.documents.append(meta)
    return out


def discover(corpus_dir: Path, paths: list[Path] | None = None) -> list[DocumentMeta]:
    """The documents of :func:`find_documents` (refused entries are logged)."""
    return find_documents(corpus_dir, paths).documents


def with_defaults(meta: DocumentMeta, parsed: ParsedDocument, detected_lang: str) -> DocumentMeta:
    """Fill title and language from the document when the manifest did not give them.

    The title: the manifest's, else the document's own (first heading, front matter), else
    its first cleaned line (never markup: the parser has removed it), else the file name.
    """
    values = {f.name: getattr(meta, f.name) for f in fields(meta)}
    if not values["title"]:
        first = next((ln.strip(" #\t") for ln in parsed.text.splitlines() if ln.strip()), "")
        values["title"] = (parsed.title or first)[:200] or Path(meta.path).stem
    if not values["lang"]:
        values["lang"] = detected_lang
    return DocumentMeta(**values)

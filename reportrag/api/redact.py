"""What an HTTP client may read of an error: no server file-system paths, no internal addresses.

The library's messages are written for the operator (the CLI prints them as they are): they
name files by absolute path and Milvus by its address. At the HTTP edge the same text goes
to anyone who can reach the API, so it is rewritten here:

- a path inside the corpus folder becomes its name relative to that folder (``x.txt``),
  which is what a client sends in ``POST /v1/ingest`` anyway, and the folder ``<corpus>``;
- any other absolute path keeps only its last component (``…/milvus.db``);
- a URL or ``host:port`` address becomes ``<address>``.

Rewriting at the edge, rather than in each message, also covers messages written later.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ADDRESS = "<address>"
CORPUS = "<corpus>"
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"`<>(),;]+")
# host:port with a dotted IPv4 address, a bracketed IPv6 one, or localhost.
_HOST_PORT = re.compile(r"(?:\b\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:.]+\]|\blocalhost):\d{1,5}\b")
# An absolute POSIX path: a slash not preceded by a name character, then path characters.
# A colon ends it, as in "/srv/corpus/x.txt: not valid UTF-8".
_PATH_CHARS = r"[^\s'\"`:,;()<>\[\]{}]"
_POSIX_PATH = re.compile(rf"(?<![\w./~-])/{_PATH_CHARS}*")
_WINDOWS_PATH = re.compile(r"\b[A-Za-z]:\\[^\s'\"`:,;()<>\[\]{}]*")


class Redactor:
    """Rewrites error text for HTTP clients; ``corpus_dir`` names stay, relative to it."""

    def __init__(self, corpus_dir: Path | None = None) -> None:
        self._corpus = corpus_dir.resolve() if corpus_dir is not None else None

    def text(self, text: str) -> str:
        text = _URL.sub(ADDRESS, text)
        text = _HOST_PORT.sub(ADDRESS, text)
        text = _POSIX_PATH.sub(lambda m: self._path(m.group(0)), text)
        return _WINDOWS_PATH.sub(lambda m: self._last(m.group(0).replace("\\", "/")), text)

    def value(self, value: Any) -> Any:
        """``value`` with every string in it rewritten (dicts and lists walked)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {key: self.value(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(item) for item in value]
        return value

    def _path(self, raw: str) -> str:
        if raw == "/":
            return raw
        if self._corpus is not None:
            path = Path(raw)
            if path == self._corpus:
                return CORPUS
            if path.is_relative_to(self._corpus):
                return path.relative_to(self._corpus).as_posix()
        return self._last(raw)

    @staticmethod
    def _last(raw: str) -> str:
        name = raw.rstrip("/").rsplit("/", 1)[-1]
        return f"…/{name}" if name else "…"

"""Validate user filter values and turn them into the core's portable :class:`Filters`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date

from reportrag.errors import FilterError
from reportrag.ids import ID_PATTERN
from reportrag.metadata import parse_filter
from reportrag.rules import (
    KIND_PATTERN,
    LANG_PATTERN,
    MAX_FILTER_VALUES,
    MAX_SECTION_CHARS,
    NO_CONTROL_PATTERN,
)
from reportrag.types import Filters

_LANG = re.compile(LANG_PATTERN)  # matched in lower case
_ID = re.compile(ID_PATTERN)
_KIND = re.compile(KIND_PATTERN)
_NO_CONTROL = re.compile(NO_CONTROL_PATTERN)


def _list(name: str, values: Sequence[str] | None, pattern: re.Pattern[str]) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str):
        values = [values]
    if len(values) > MAX_FILTER_VALUES:
        raise FilterError(
            f"filter '{name}' takes at most {MAX_FILTER_VALUES} values", details={"field": name}
        )
    out = []
    for v in values:
        if not isinstance(v, str) or not pattern.fullmatch(v):
            raise FilterError(
                f"filter '{name}' has an invalid value {v!r}",
                details={"field": name, "value": str(v)[:100], "pattern": pattern.pattern},
            )
        out.append(v)
    return tuple(dict.fromkeys(out))


def _date(name: str, value: str | None) -> str:
    if not value:
        return ""
    try:
        return date.fromisoformat(value).isoformat()
    except (TypeError, ValueError) as exc:
        raise FilterError(
            f"filter '{name}' must be a date YYYY-MM-DD, not {value!r}", details={"field": name}
        ) from exc


def build_filters(
    *,
    lang: Sequence[str] | None = None,
    doc_id: Sequence[str] | None = None,
    section: str | None = None,
    kind: Sequence[str] | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    metadata: object = None,
) -> Filters:
    """Checked filters; any bad value is a FilterError naming the field (never ignored).

    ``metadata`` is the JSON form of a metadata filter (reportrag/metadata.py); its keys and
    types are checked against the collection when the search runs.
    """
    sec = section or ""
    # Control characters as the store counts them (C0, DEL, C1): refused here, by name.
    if len(sec) > MAX_SECTION_CHARS or not _NO_CONTROL.fullmatch(sec):
        raise FilterError(
            "filter 'section' is too long or has control characters", details={"field": "section"}
        )
    if lang is not None and not isinstance(lang, str):
        lang = [v.lower() if isinstance(v, str) else v for v in lang]
    f = Filters(
        lang=_list("lang", lang.lower() if isinstance(lang, str) else lang, _LANG),
        doc_id=_list("doc_id", doc_id, _ID),
        section=sec.strip(),
        kind=_list("kind", kind, _KIND),
        date_from=_date("date_from", date_from),
        date_to=_date("date_to", date_to),
        metadata=None if metadata is None else parse_filter(metadata),
    )
    if f.date_from and f.date_to and f.date_from > f.date_to:
        raise FilterError("date_from is after date_to", details={"field": "date_from"})
    return f

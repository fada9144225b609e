"""The error tables of docs/api.md and docs/operations.md list exactly the codes the API can
answer, each with the status it is answered with.

The codes come from the code, not from a list kept here: every class of the exception tree
(reportrag/errors.py) with the status the HTTP edge maps it to, and the edge's own codes
(reportrag/api/errors.py). A scan of api/ finds error bodies written by hand, so a code added there
without registering it fails too.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reportrag import errors as E
from reportrag.api.errors import EDGE_CODES, OTHER_HTTP_CODE, status_for

REPO = Path(__file__).resolve().parent.parent
TABLES = [
    (REPO / "docs" / "api.md", "## Errors"),
    (REPO / "docs" / "operations.md", "## What failures look like to a client"),
]


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def code_statuses() -> dict[str, str]:
    """Every code the API can answer with, and its status ("other" for the catch-all)."""
    # ReportragError itself is abstract: only its subclasses are raised.
    codes = {cls.code: str(status_for(cls("m"))) for cls in _subclasses(E.ReportragError)}
    for code, status in EDGE_CODES.items():
        assert codes.setdefault(code, str(status)) == str(status), code
    codes[OTHER_HTTP_CODE] = "other"
    return codes


def doc_statuses(path: Path, heading: str) -> dict[str, str]:
    """code -> status from the first table under ``heading`` (codes in the second column)."""
    text = path.read_text(encoding="utf-8")
    section = text[text.index(heading):]
    table = re.search(r"^\|.*?(?=\n\n)", section, re.M | re.S)
    assert table, f"no table under {heading} in {path.name}"
    found: dict[str, str] = {}
    for row in table.group(0).splitlines()[2:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        for code in re.findall(r"`([a-z_]+)`", cells[1]):
            assert code not in found, f"{path.name}: {code} listed twice"
            found[code] = cells[0]
    return found


@pytest.mark.parametrize(("path", "heading"), TABLES, ids=[p.name for p, _ in TABLES])
def test_the_error_table_lists_every_code_with_its_status(path: Path, heading: str) -> None:
    documented = doc_statuses(path, heading)
    actual = code_statuses()
    assert sorted(set(actual) - set(documented)) == [], f"undocumented in {path.name}"
    assert sorted(set(documented) - set(actual)) == [], f"documented but never sent ({path.name})"
    wrong = {c: (documented[c], actual[c]) for c in actual if documented[c] != actual[c]}
    assert wrong == {}, f"{path.name}: documented status vs the real one"


def test_the_codes_the_issue_found_missing_are_there() -> None:
    documented = doc_statuses(*TABLES[0])
    assert {"bad_document": "422", "bad_manifest": "422", "store_error": "503"}.items() <= (
        documented.items()
    )


_LITERAL_CODES = [
    re.compile(r"error_response\(\s*\d{3},\s*\"([a-z_]+)\""),
    re.compile(r"\"code\":\s*\"([a-z_]+)\""),
]


def test_every_error_code_written_by_hand_in_api_is_registered() -> None:
    known = set(code_statuses())
    written = {
        (path.relative_to(REPO).as_posix(), code)
        for path in (REPO / "reportrag" / "api").rglob("*.py")
        for pattern in _LITERAL_CODES
        for code in pattern.findall(path.read_text(encoding="utf-8"))
    }
    assert written, "the scan found nothing: the patterns no longer match the code"
    assert sorted((p, c) for p, c in written if c not in known) == []

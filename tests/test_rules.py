"""One source for the shared rules (reportrag.rules, reportrag.ids): every layer that checks a
mode, a bound or a filter field agrees with it, at its edges."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from reportrag.api.cli import build_parser
from reportrag.api.schemas import ContextIn, FiltersIn, SearchIn
from reportrag.errors import ConfigError, FilterError, InputError
from reportrag.ids import DOC_ID_PATTERN, ID_PATTERN, MAX_ID
from reportrag.ingest.corpus import DOC_ID_RE
from reportrag.ingest.uploads import split_metadata
from reportrag.rules import BALANCE, INDEX_LIMITS, MAX_FILTER_VALUES, MAX_TOP_K, MODES
from reportrag.search.filters import build_filters
from reportrag.settings import Settings
from reportrag.store.capabilities import IndexConfig


def test_the_schemas_publish_the_modes_and_balances() -> None:
    search = SearchIn.model_json_schema()["properties"]
    assert search["mode"]["enum"] == list(MODES)
    assert search["balance"]["enum"] == list(BALANCE)
    assert ContextIn.model_json_schema()["properties"]["mode"]["enum"] == list(MODES)
    assert search["top_k"]["maximum"] == MAX_TOP_K


def test_the_cli_offers_the_same_modes() -> None:
    parser = build_parser()
    args = parser.parse_args(["search", "q", "--mode", MODES[-1]])
    assert args.mode == MODES[-1]
    with pytest.raises(SystemExit):
        parser.parse_args(["search", "q", "--mode", "bm25"])


@pytest.mark.parametrize(
    ("field", "value", "ok"),
    [
        ("lang", ["pt-BR"], True),
        ("lang", ["english"], False),
        ("kind", ["annual_report"], True),
        ("kind", ["-report"], False),
        ("doc_id", ["doc-1:00003:abcdef"], True),
        ("doc_id", ["-doc"], False),
        ("lang", ["en"] * MAX_FILTER_VALUES, True),
        ("lang", ["en"] * (MAX_FILTER_VALUES + 1), False),
    ],
)
def test_schema_and_filter_validator_agree(field: str, value: list[str], ok: bool) -> None:
    """What the OpenAPI schema refuses, the filters of the CLI and the library refuse too."""
    if ok:
        FiltersIn.model_validate({field: value})
        build_filters(**{field: value})
        return
    with pytest.raises(ValidationError):
        FiltersIn.model_validate({field: value})
    with pytest.raises(FilterError):
        build_filters(**{field: value})


def test_an_upload_takes_only_kinds_a_filter_can_name() -> None:
    fields, _ = split_metadata({"kind": "annual_report"})
    assert build_filters(kind=[fields["kind"]]).kind == ("annual_report",)
    with pytest.raises(InputError, match="kind"):
        split_metadata({"kind": "-report"})


def test_document_ids_are_chunk_ids_without_colons() -> None:
    longest = "d" * MAX_ID
    for pattern in (ID_PATTERN, DOC_ID_PATTERN):
        assert re.fullmatch(pattern, longest) and not re.fullmatch(pattern, longest + "d")
    assert re.fullmatch(ID_PATTERN, "doc:00001:ab") and not DOC_ID_RE.fullmatch("doc:00001:ab")


@pytest.mark.parametrize("name", sorted(INDEX_LIMITS))
def test_settings_and_store_accept_the_same_index_ranges(name: str) -> None:
    low, high = INDEX_LIMITS[name]
    # nprobe may not exceed nlist: the other one of the pair stays out of the way
    extra = {"ivf_nprobe": 1, "ivf_nlist": INDEX_LIMITS["ivf_nlist"][1]}
    extra.pop(name, None)
    for value in (low, high):
        assert getattr(Settings(_env_file=None, **{name: value}), name) == value
        assert getattr(IndexConfig(**{name: value, **extra}), name) == value
    for value in (low - 1, high + 1):
        with pytest.raises(ValidationError):
            Settings(_env_file=None, **{name: value})
        with pytest.raises(ConfigError):
            IndexConfig(**{name: value, **extra})

"""docs/operations.md lists every setting with the default the code has."""

from __future__ import annotations

import re
from pathlib import Path

from reportrag.settings import Settings

DOC = Path(__file__).resolve().parent.parent / "docs" / "operations.md"


def test_every_setting_is_documented_with_its_default() -> None:
    rows = dict(re.findall(r"^\| `REPORTRAG_([A-Z_]+)` \| ([^|]+) \|", DOC.read_text(), re.M))
    fields = Settings.model_fields
    assert set(rows) == {name.upper() for name in fields}
    for name, field in fields.items():
        default = field.default
        if isinstance(default, bool | int | float | str) and not isinstance(default, bool):
            shown = f"{default:g}" if isinstance(default, float) else str(default)
            assert f"`{shown}`" in rows[name.upper()], (name, rows[name.upper()])
        elif isinstance(default, Path):
            assert f"`./{default}`" in rows[name.upper()], (name, rows[name.upper()])

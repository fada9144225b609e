"""The rewriting of error text for HTTP clients (reportrag/api/redact.py): no parent folders, no
addresses, corpus files by their name relative to the corpus folder, other text untouched."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from reportrag.api.redact import Redactor

_SEGMENT = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._-", min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@given(parents=st.lists(_SEGMENT, min_size=1, max_size=6), name=_SEGMENT,
       port=st.integers(1, 65535))
def test_no_parent_folder_or_port_survives_redaction(
    parents: list[str], name: str, port: int
) -> None:
    path = "/" + "/".join(["srv", *parents, name])
    text = f"{path}: cannot read; Milvus at http://10.1.2.3:{port} and 127.0.0.1:{port}"
    out = Redactor(Path("/nowhere/corpus")).text(text)
    assert "/srv/" not in out and "10.1.2.3" not in out and "127.0.0.1" not in out
    assert out.startswith(f"…/{name}:") and out.count("<address>") == 2


def test_corpus_files_keep_their_name_relative_to_the_corpus(tmp_path: Path) -> None:
    r = Redactor(tmp_path / "corpus")
    assert r.text(f"{tmp_path}/corpus/sub/a.md: empty") == "sub/a.md: empty"
    assert r.text(f"corpus folder {tmp_path}/corpus does not exist") == (
        "corpus folder <corpus> does not exist"
    )
    # Relative names, ratios, section numbers and dates are not paths.
    for text in ["x.txt: empty", "2.3/4 done", "section 二./2.1", "date_from is after date_to"]:
        assert r.text(text) == text

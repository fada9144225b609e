"""Which files are documents, and their doc ids (no model, no Milvus)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from reportrag.errors import DocumentError
from reportrag.ids import slug
from reportrag.ingest.corpus import assign_doc_ids, default_doc_id, discover, find_documents


def _write(folder: Path, name: str, text: str = "Some text about open source.\n") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    _write(folder, "report.md")
    return folder


# -- 1. the corpus is the regular files inside its folder ----------------------------------


def test_a_symlink_out_of_the_folder_is_refused_not_ingested(corpus: Path, tmp_path: Path) -> None:
    private = _write(tmp_path, "private.txt", "salary list: do not publish\n")
    (corpus / "x.txt").symlink_to(private)
    found = find_documents(corpus)
    assert [Path(d.path).name for d in found.documents] == ["report.md"]
    assert [(r.file, r.reason) for r in found.refused] == [
        ("x.txt", "a symbolic link to a file outside the corpus folder")
    ]


def test_a_relative_symlink_climbing_out_is_refused_too(corpus: Path, tmp_path: Path) -> None:
    _write(tmp_path, "secret.md", "secret\n")
    (corpus / "up.md").symlink_to(Path("..") / "secret.md")
    assert [r.file for r in find_documents(corpus).refused] == ["up.md"]


def test_a_symlink_that_stays_inside_is_a_document(corpus: Path) -> None:
    (corpus / "sub").mkdir()
    _write(corpus / "sub", "inner.txt")
    (corpus / "alias.txt").symlink_to(corpus / "sub" / "inner.txt")
    found = find_documents(corpus)
    assert sorted(Path(d.path).name for d in found.documents) == ["alias.txt", "report.md"]
    assert found.refused == []


def test_broken_links_pipes_and_folders_are_never_opened(corpus: Path) -> None:
    (corpus / "gone.txt").symlink_to(corpus / "missing.txt")
    os.mkfifo(corpus / "pipe.txt")  # opening it would block the ingestion forever
    (corpus / "folder.md").mkdir()
    done = threading.Event()
    result: dict[str, object] = {}

    def run() -> None:
        result["found"] = find_documents(corpus)
        done.set()

    threading.Thread(target=run, daemon=True).start()
    assert done.wait(10), "listing the corpus blocked on a pipe"
    found = result["found"]
    assert [Path(d.path).name for d in found.documents] == ["report.md"]  # type: ignore[attr-defined]
    refused = {r.file: r.reason for r in found.refused}  # type: ignore[attr-defined]
    assert set(refused) == {"gone.txt", "pipe.txt"}
    assert refused["pipe.txt"] == "not a regular file"


def test_a_symlink_named_explicitly_that_leaves_the_folder_is_an_error(
    corpus: Path, tmp_path: Path
) -> None:
    (corpus / "x.txt").symlink_to(_write(tmp_path, "private.txt"))
    with pytest.raises(DocumentError, match="outside the corpus folder"):
        find_documents(corpus, [corpus / "x.txt"])


# -- 2. doc ids: unique and readable in any script -----------------------------------------


@pytest.mark.parametrize(
    ("name", "doc_id"),
    [
        ("商业化.txt", "shang-ye-hua"),
        ("开源报告.txt", "kai-yuan-bao-gao"),
        ("Über Ölpreise 2024.md", "uber-olpreise-2024"),
        ("Straße_der_Zukunft.md", "strasse_der_zukunft"),
        ("2023 开源 Annual Report.md", "2023-kai-yuan-annual-report"),
        ("Привет мир.txt", "privet-mir"),
        ("000_a4d6d44b88908d33.txt", "000_a4d6d44b88908d33"),
        ("v1.2-notes.md", "v1.2-notes"),
        ("---.txt", "doc"),
    ],
)
def test_default_doc_ids_are_transliterated(name: str, doc_id: str) -> None:
    assert default_doc_id(Path(name)) == doc_id


def test_chinese_file_names_get_distinct_ids(corpus: Path) -> None:
    _write(corpus, "商业化.txt", "开源商业化的路径。\n")
    _write(corpus, "开源报告.txt", "开源年度报告。\n")
    ids = sorted(d.doc_id for d in discover(corpus))
    assert ids == ["kai-yuan-bao-gao", "report", "shang-ye-hua"]


def test_names_that_collide_each_get_a_suffix_and_keep_it(corpus: Path) -> None:
    _write(corpus, "notes.txt")
    _write(corpus, "Notes.md")
    _write(corpus, "notes!.txt")
    ids = {Path(d.path).name: d.doc_id for d in discover(corpus)}
    collided = [ids["notes.txt"], ids["Notes.md"], ids["notes!.txt"]]
    assert len(set(collided)) == 3
    assert all(i.startswith("notes-") and len(i) == len("notes-") + 6 for i in collided)
    # One file named on its own gets the id a whole-folder run gives it: never another
    # document's id, so a run over one file can never replace a different file's document.
    for name, doc_id in ids.items():
        assert [d.doc_id for d in discover(corpus, [corpus / name])] == [doc_id]


def test_the_manifest_id_wins_and_a_default_that_clashes_moves_aside(corpus: Path) -> None:
    _write(corpus, "a.md")
    _write(corpus, "b.md")
    (corpus / "manifest.toml").write_text('[[documents]]\nfile = "b.md"\ndoc_id = "a"\n')
    ids = {Path(d.path).name: d.doc_id for d in discover(corpus)}
    assert ids["b.md"] == "a"
    assert ids["a.md"].startswith("a-") and ids["a.md"] != "a"


def test_an_id_still_shared_is_an_error_naming_both_files(tmp_path: Path) -> None:
    files = [tmp_path / "x.md", tmp_path / "y.md"]
    manifest = {"x.md": {"file": "x.md", "doc_id": "same"}}
    ids = assign_doc_ids(files, manifest)
    assert ids[files[0]] == "same" and ids[files[1]] == "y"
    # Two folders with a file of the same name: one run cannot hold both.
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    a, b = _write(tmp_path / "one", "intro.md"), _write(tmp_path / "two", "intro.md")
    with pytest.raises(DocumentError, match="would both be document 'intro'"):
        discover(tmp_path, [a, b])


def test_slug_is_bounded_and_safe() -> None:
    long = slug("长" * 400)
    assert len(long) <= 128 and long.startswith("zhang-zhang")
    assert slug("a/b\\c:d*e?") == "a-b-c-d-e"


# -- 7. non-document files are never documents ---------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("manifest.toml", "the corpus manifest"),
        ("README.md", "README"),
        ("readme.txt", "README"),
        ("notes.pdf.exe", "not a supported document type"),
        (".hidden.md", "hidden"),
    ],
)
def test_naming_a_non_document_is_an_error(corpus: Path, name: str, reason: str) -> None:
    _write(corpus, name, "# no entries\n" if name.endswith(".toml") else "text\n")
    with pytest.raises(DocumentError, match=reason):
        find_documents(corpus, [corpus / name])
    assert name not in {Path(d.path).name for d in discover(corpus)}


def test_a_folder_named_on_the_command_line_brings_its_own_manifest(
    corpus: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    _write(other, "notes.md")
    (other / "manifest.toml").write_text(
        '[[documents]]\nfile = "notes.md"\ndoc_id = "team-notes"\nlang = "de"\n'
        'translation_of = "team-notes-en"\n',
        encoding="utf-8",
    )
    (meta,) = discover(corpus, [other])
    assert (meta.doc_id, meta.lang, meta.translation_of) == ("team-notes", "de", "team-notes-en")
    (one,) = discover(corpus, [other / "notes.md"])  # a file: its folder's manifest too
    assert one.doc_id == "team-notes"


def test_manifest_metadata_tables_become_the_documents_user_metadata(tmp_path: Path) -> None:
    from reportrag.errors import ManifestError

    (tmp_path / "a.md").write_text("# A\n\ntext\n", encoding="utf-8")
    (tmp_path / "b.pdf").write_bytes(b"%PDF-1.7\n")  # a PDF is a document too
    (tmp_path / "manifest.toml").write_text(
        '[[documents]]\nfile = "a.md"\n[documents.metadata]\n'
        'department = "legal"\nyear = 2023\npublic = true\ntags = ["x", "y"]\n',
        encoding="utf-8",
    )
    docs = {d.doc_id: d for d in discover(tmp_path)}
    assert docs["a"].metadata == {"department": "legal", "year": 2023, "public": True,
                                  "tags": ["x", "y"]}
    assert docs["b"].metadata == {}
    (tmp_path / "manifest.toml").write_text(
        '[[documents]]\nfile = "a.md"\n[documents.metadata]\nwhen = 2024-01-01\n',
        encoding="utf-8",
    )
    with pytest.raises(ManifestError, match="metadata.when: date is not a supported value"):
        discover(tmp_path)

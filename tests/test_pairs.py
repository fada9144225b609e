"""Translation-pair detection: scoring, assignment and the ingestion step, with fakes (fast).

The synthetic corpus imitates what the real embeddings do to a documentation site: every
vector shares a common direction, each language pulls its texts its own way, and pages of
one project share template passages (installation, "delete the plugin", API tables), so
that a page is similar to its siblings as well as to its translation.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
import pytest

from reportrag.ingest.pairalign import DETECTED, PairSpec, align_translations
from reportrag.ingest.pairassign import assign
from reportrag.ingest.pairevidence import direction_score, pair_score
from reportrag.ingest.pairmodel import DocumentSample, PairEvidence, document_language
from reportrag.ingest.pairs import detect_translations
from reportrag.ingest.translations import sync_translations
from reportrag.store import schema as sc
from reportrag.types import Chunk, Counterpart, DocumentMeta, Translation

DIM = 64


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


@dataclass
class World:
    """The directions shared by a synthetic corpus."""

    rng: np.random.Generator
    common: np.ndarray
    langs: dict[str, np.ndarray]

    @classmethod
    def make(cls, seed: int = 0) -> World:
        rng = np.random.default_rng(seed)
        langs = {lang: _unit(rng.normal(size=DIM)) for lang in ("en", "zh", "de")}
        return cls(rng, _unit(rng.normal(size=DIM)), langs)

    def template(self, n: int) -> np.ndarray:
        """Passages a project repeats on every page (with small variations per page)."""
        return _unit(self.rng.normal(size=(n, DIM)))

    def page(self, n: int, template: np.ndarray | None = None) -> np.ndarray:
        """The meanings of one page: its own passages, interleaved with template ones."""
        own = _unit(self.rng.normal(size=(n, DIM)))
        if template is not None:
            varied = _unit(template + 0.3 * _unit(self.rng.normal(size=template.shape)))
            own = np.concatenate([own[: n // 2], varied, own[n // 2 :]])
        return _unit(2.0 * self.common + own)

    def render(self, meanings: np.ndarray, lang: str, noise: float = 0.3) -> np.ndarray:
        """The page written in ``lang``: a noisy copy pulled towards the language."""
        jitter = _unit(self.rng.normal(size=meanings.shape))
        return _unit(meanings + noise * jitter + 0.5 * self.langs[lang])


def _chunks(doc: str, lang: str, n: int, texts: list[str] | None = None) -> list[Chunk]:
    return [
        Chunk(
            chunk_id=f"{doc}:{k:05d}:x",
            doc_id=doc,
            title=doc,
            lang=lang,
            kind="article",
            date="",
            section="",
            ordinal=k,
            text=texts[k] if texts else "plain passage",
            token_count=100,
            char_start=100 * k,
            char_end=100 * k + 100,
            content_hash=f"h{k}",
        )
        for k in range(n)
    ]


def _sample(doc: str, lang: str, vectors: np.ndarray) -> DocumentSample:
    return DocumentSample(doc, lang, _chunks(doc, lang, len(vectors)), vectors)


def _site(seed: int = 0) -> tuple[list[DocumentSample], set[tuple[str, str]]]:
    """Two projects: pairs, an en/zh/de triple, unpaired siblings in both languages."""
    w = World.make(seed)
    docs: list[DocumentSample] = []
    truth: set[tuple[str, str]] = set()
    for project, sizes in (("p", (12, 9, 15, 10, 8, 11)), ("q", (7, 14, 9, 6))):
        template = w.template(3)
        for k, n in enumerate(sizes):
            meanings = w.page(n, template)
            if k == 0:
                langs = ("en", "zh", "de")  # a triple
            elif k == len(sizes) - 1:
                langs = ("en",)  # unpaired: its translation is not in the corpus
            elif k == len(sizes) - 2:
                langs = ("zh",)  # unpaired too, and a sibling of the one above
            else:
                langs = ("en", "zh")
            names = [f"{project}{k}-{lang}" for lang in langs]
            docs += [_sample(name, lang, w.render(meanings, lang)) for name, lang in zip(
                names, langs, strict=True)]
            truth |= {tuple(sorted((a, b))) for a in names for b in names if a < b}
    return docs, truth


# -- scoring ---------------------------------------------------------------------------------


def test_direction_score_counts_votes_beyond_chance_and_chance_only_if_aligned() -> None:
    # many competitors: the votes decide, whatever the alignment says
    assert direction_score(0.9, 0.1, 0.0) == pytest.approx(0.8)
    assert direction_score(0.1, 0.1, 0.0) == pytest.approx(0.0)
    # the only document of its language gets every vote: only the alignment can earn it
    assert direction_score(1.0, 1.0, 0.0) == 0.0
    assert direction_score(1.0, 1.0, 0.9) == pytest.approx(0.9)
    # votes below chance subtract nothing from a good alignment
    assert direction_score(0.3, 0.8, 1.0) == pytest.approx(0.8)
    # both sides must agree
    assert pair_score((0.9, 0.05), (0.1, 0.1), (0.0, 0.0)) == 0.0


def test_translations_triples_and_unpaired_siblings() -> None:
    docs, truth = _site()
    found = detect_translations(docs)
    assert {(p.a, p.b) for p in found.pairs} == truth
    scores = {(e.a, e.b): e.score for e in found.evidence}
    best_false = max(s for k, s in scores.items() if k not in truth)
    assert min(scores[k] for k in truth if k in scores) > 0.5 > best_false
    assert all(0.5 < p.confidence <= 1.0 for p in found.pairs)
    # nothing is paired with an unpaired page, and nobody gets two counterparts in a language
    assert not any({"p5-en", "p4-zh", "q3-en", "q2-zh"} & {p.a, p.b} for p in found.pairs)


def test_doc_ids_are_labels_only() -> None:
    """Renaming documents (even misleadingly) does not change which ones are paired."""
    docs, truth = _site(seed=3)
    rng = np.random.default_rng(5)
    names = [d.doc_id for d in docs]
    shuffled = list(rng.permutation(names))  # p1-en may now be called q2-zh, and so on
    rename = dict(zip(names, shuffled, strict=True))
    renamed = [
        DocumentSample(rename[d.doc_id], d.lang, _chunks(rename[d.doc_id], d.lang, len(d.chunks)),
                       d.vectors)
        for d in docs
    ]
    found = {(p.a, p.b) for p in detect_translations(renamed).pairs}
    assert found == {tuple(sorted((rename[a], rename[b]))) for a, b in truth}


def test_a_small_corpus_needs_a_parallel_alignment() -> None:
    """With one document per language every vote is theirs: only the alignment decides."""
    w = World.make(7)
    meanings = w.page(20)
    translated = [_sample("a", "en", w.render(meanings, "en")),
                  _sample("b", "zh", w.render(meanings, "zh"))]
    unrelated = [_sample("a", "en", w.render(w.page(20), "en")),
                 _sample("b", "zh", w.render(w.page(18), "zh"))]
    (pair,) = detect_translations(translated).pairs
    assert (pair.a, pair.b) == ("a", "b") and pair.confidence > 0.9
    found = detect_translations(unrelated)
    assert found.pairs == [] and found.evidence[0].score < 0.2


def test_one_language_and_unknown_languages_find_nothing() -> None:
    w = World.make(2)
    meanings = w.page(10)
    same = [_sample("a", "en", w.render(meanings, "en")),
            _sample("b", "en", w.render(meanings, "en"))]
    unknown = [_sample("a", "en", w.render(meanings, "en")),
               _sample("b", "und", w.render(meanings, "zh"))]
    assert detect_translations(same).pairs == []
    assert detect_translations(unknown).pairs == []
    assert detect_translations([]).pairs == []


def test_a_very_different_length_is_no_candidate() -> None:
    w = World.make(4)
    meanings = w.page(40)
    docs = [_sample("long", "en", w.render(meanings, "en")),
            _sample("short", "zh", w.render(meanings[:8], "zh"))]  # a summary, 5 times shorter
    found = detect_translations(docs)
    assert found.candidates == 0 and found.pairs == []


def _evidence(a: str, b: str, score: float) -> PairEvidence:
    return PairEvidence(a, b, 0.0, (0, 0), (0, 0), (0, 0), 0.0, score, round(score, 3))


def test_assignment_is_one_to_one_per_language_and_closes_groups() -> None:
    langs = {"en1": "en", "en2": "en", "zh1": "zh", "de1": "de", "de2": "de"}
    evidence = [
        _evidence("en1", "zh1", 0.9),
        _evidence("en2", "zh1", 0.8),  # zh1 already has its English counterpart
        _evidence("de1", "zh1", 0.7),
        _evidence("de2", "en1", 0.75),  # would put two German documents in one group
        _evidence("de1", "en2", 0.4),  # below the threshold
    ]
    pairs = assign(evidence, langs)
    assert [(p.a, p.b, p.implied) for p in pairs] == [
        ("de2", "en1", False),
        ("de2", "zh1", True),  # the triple's third pair, through en1
        ("en1", "zh1", False),
    ]
    implied = next(p for p in pairs if p.implied)
    assert implied.confidence == 0.75  # its weaker edge


def test_declared_pairs_bind_and_are_not_reported() -> None:
    langs = {"en1": "en", "zh1": "zh", "zh2": "zh", "de1": "de"}
    evidence = [_evidence("en1", "zh2", 0.95), _evidence("de1", "zh1", 0.8)]
    pairs = assign(evidence, langs, fixed=[("en1", "zh1")])
    # en1 has its Chinese counterpart by declaration; de1 joins the declared group
    assert [(p.a, p.b, p.implied) for p in pairs] == [
        ("de1", "en1", True),
        ("de1", "zh1", False),
    ]


def _c(doc: str, k: int, lang: str, text: str, tokens: int) -> Chunk:
    return Chunk(f"{doc}:{k}", doc, "", lang, "", "", "", k, text, tokens, k, k + 1, str(k))


def test_document_language_reads_prose_not_code() -> None:
    code = "```bash\ncurl http://127.0.0.1:9180/apisix/admin/routes -X PUT -d '{}'\n```"
    zh_page = [
        _c("z", 0, "zh", "本文介绍如何为 Admin API 配置双向认证。", 40),
        _c("z", 1, "en", code * 3, 300),  # code reads as English, and outweighs the prose
        _c("z", 2, "en", code * 3, 300),
    ]
    assert document_language(zh_page) == "zh"
    en_page = [
        _c("e", 0, "en", "Open source grew fast. " * 40, 300),
        _c("e", 1, "zh", "开源 | 增长", 10),  # a Chinese table row in an English report
    ]
    assert document_language(en_page) == "en"
    de_page = [_c("d", 0, "de", "Das ist ein Text. " * 20, 200), _c("d", 1, "en", code, 100)]
    assert document_language(de_page) == "de"
    assert document_language([]) == "und"


# -- the ingestion step over a fake store -------------------------------------------------


class FakeStore:
    """The store methods the translation step uses, over in-memory chunks."""

    def __init__(self, docs: list[DocumentSample]) -> None:
        self.chunks = {c.chunk_id: replace(c) for d in docs for c in d.chunks}
        self.vectors = {
            c.chunk_id: v for d in docs for c, v in zip(d.chunks, d.vectors, strict=True)
        }
        self.records: dict[str, list[Translation]] = {}
        self.counterpart_writes: list[dict[str, list[Counterpart]]] = []
        self.record_writes: list[dict[str, list[Translation]]] = []

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        found = sorted((c for c in self.chunks.values() if c.doc_id == doc_id),
                       key=lambda c: c.ordinal)
        return [replace(c, counterparts=list(c.counterparts)) for c in found]

    def get_vectors(self, chunk_ids: list[str]) -> dict[str, np.ndarray]:
        return {i: self.vectors[i] for i in chunk_ids if i in self.vectors}

    def set_counterparts(self, updates: dict[str, list[Counterpart]]) -> None:
        self.counterpart_writes.append(updates)
        for cid, cps in updates.items():
            self.chunks[cid].counterparts = list(cps)

    def scan_with_vectors(self, page_size: int = 1000) -> Iterator[tuple[list[Chunk], np.ndarray]]:
        ids = sorted(self.chunks)
        for i in range(0, len(ids), page_size):
            page = [replace(self.chunks[c], counterparts=list(self.chunks[c].counterparts))
                    for c in ids[i : i + page_size]]
            yield page, np.stack([self.vectors[c.chunk_id] for c in page])

    def document_translations(self) -> dict[str, list[Translation]]:
        return {d: list(ts) for d, ts in self.records.items() if ts}

    def set_document_translations(self, records: dict[str, list[Translation]]) -> int:
        self.record_writes.append(records)
        stored = {c.doc_id for c in self.chunks.values()}
        for doc, ts in records.items():
            if doc in stored:
                self.records[doc] = list(ts)
        return len([d for d in records if d in stored])

    def links(self, a: str, b: str) -> int:
        """Counterparts from a's chunks into b's."""
        return sum(
            cp.chunk_id.startswith(b + ":")
            for c in self.chunks.values()
            if c.doc_id == a
            for cp in c.counterparts
        )


def _meta(doc_id: str, lang: str = "", translation_of: str = "") -> DocumentMeta:
    return DocumentMeta(doc_id, f"{doc_id}.md", doc_id, lang, "article", "", translation_of)


def _translated_site() -> tuple[FakeStore, list[DocumentMeta]]:
    w = World.make(11)
    page = w.page(16)
    other = w.page(14)
    docs = [
        _sample("guide-en", "en", w.render(page, "en")),
        _sample("guide-zh", "zh", w.render(page, "zh")),
        _sample("notes-en", "en", w.render(other, "en")),  # unpaired
        _sample("faq-zh", "zh", w.render(w.page(12), "zh")),  # unpaired
    ]
    return FakeStore(docs), [_meta(d.doc_id) for d in docs]


def test_sync_detects_aligns_and_records_then_writes_nothing_again() -> None:
    store, metas = _translated_site()
    first = sync_translations(metas, store=store)
    assert first.detection["ran"] and first.detection["detected"] == 1
    (report,) = first.reports
    assert (report.src_doc, report.tgt_doc, report.source) == ("guide-en", "guide-zh", "detected")
    assert report.aligned and report.links >= 14 and report.confidence > 0.9
    assert store.links("guide-en", "guide-zh") >= 14 and store.links("guide-zh", "guide-en") >= 14
    assert store.records == {
        "guide-en": [Translation("guide-zh", report.confidence, "detected")],
        "guide-zh": [Translation("guide-en", report.confidence, "detected")],
    }
    writes = len(store.counterpart_writes), len(store.record_writes)
    second = sync_translations(metas, store=store)
    assert second.reports[0].chunks_updated == 0 and second.records_written == 0
    assert (len(store.counterpart_writes), len(store.record_writes)) == writes
    # nothing changed: the recorded pair stands without detecting again
    third = sync_translations(metas, store=store, detect=False,
                              changed_doc_ids=set())
    assert third.detection == {"ran": False} and third.reports == []
    assert store.records["guide-en"][0].doc_id == "guide-zh"


def test_declared_pair_that_reads_as_one_language_is_aligned_with_a_warning(caplog) -> None:
    """The manifest is the authority: no refusal, and the warning names both documents."""
    w = World.make(12)
    page = w.page(12)
    docs = [_sample("glm4-en", "en", w.render(page, "en")),
            _sample("glm4-zh", "en", w.render(page, "en"))]  # its chunks read as English
    store = FakeStore(docs)
    metas = [_meta("glm4-en", "en", "glm4-zh"), _meta("glm4-zh", "zh")]
    with caplog.at_level(logging.WARNING):
        sync = sync_translations(metas, store=store,
                                 declared_langs={"glm4-en": "en", "glm4-zh": "zh"})
    (report,) = sync.reports
    assert report.source == "declared" and report.aligned and report.links >= 10
    assert store.links("glm4-en", "glm4-zh") >= 10
    (warning,) = report.warnings
    assert "glm4-en" in warning and "glm4-zh" in warning and "aligned as declared" in warning
    assert "declared 'zh'" in warning  # the evidence: declared Chinese, chunks read English
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("glm4-en ↔ glm4-zh" in m and "aligned as declared" in m for m in logged)
    assert store.records["glm4-zh"] == [Translation("glm4-en", report.confidence, "declared")]


def test_declared_languages_are_kept_and_declared_pairs_bind_detection() -> None:
    store, metas = _translated_site()
    # declare the English guide a translation of the unpaired Chinese FAQ instead
    metas = [
        _meta("guide-en", "en", "faq-zh"), _meta("guide-zh"), _meta("notes-en"), _meta("faq-zh")
    ]
    sync = sync_translations(metas, store=store, declared_langs={"guide-en": "en"})
    sources = {(r.src_doc, r.tgt_doc): r.source for r in sync.reports}
    # guide-en has its Chinese counterpart by declaration: guide-zh cannot take that place
    assert sources == {("faq-zh", "guide-en"): "declared"}
    declared = next(r for r in sync.reports if r.source == "declared")
    assert declared.confidence < 0.5
    assert any("are these really translations?" in w and "faq-zh" in w and "guide-en" in w
               for w in declared.warnings)


def test_a_pair_that_gives_way_loses_its_links_and_record() -> None:
    store, metas = _translated_site()
    sync_translations(metas, store=store)
    assert store.links("guide-en", "guide-zh") > 0
    declared = [_meta("guide-en", "en", "faq-zh"), _meta("guide-zh"), _meta("notes-en"),
                _meta("faq-zh")]
    sync = sync_translations(declared, store=store)
    assert sync.unlinked == [("guide-en", "guide-zh")]
    assert store.links("guide-en", "guide-zh") == 0 and store.links("guide-zh", "guide-en") == 0
    assert [t.doc_id for t in store.records["guide-en"]] == ["faq-zh"]
    assert "guide-zh" not in store.document_translations()


def test_unchanged_pairs_are_not_realigned() -> None:
    store, metas = _translated_site()
    sync_translations(metas, store=store)
    again = sync_translations(metas, store=store, is_current=lambda a, b: True)
    assert again.reports == [] and again.detection["detected"] == 1


def test_align_translations_keeps_other_languages_links_across_pairs() -> None:
    """A document in two pairs keeps the links of the first when the second is aligned."""
    w = World.make(13)
    page = w.page(10)
    docs = [_sample(f"t-{lang}", lang, w.render(page, lang)) for lang in ("en", "zh", "de")]
    store = FakeStore(docs)
    sync = sync_translations([_meta(d.doc_id) for d in docs], store=store)
    assert len(sync.reports) == 3
    assert store.links("t-en", "t-zh") >= 8 and store.links("t-en", "t-de") >= 8
    assert store.links("t-zh", "t-de") >= 8


# -- stored form, CLI and API -------------------------------------------------------------


def test_translations_live_beside_the_counterparts_in_one_json() -> None:
    cps = [Counterpart("b:00000:x", "zh", 0.9)]
    ts = [Translation("b", 0.97, "detected")]
    raw = sc.with_translations(sc.counterparts_json(cps), ts)
    row = {"counterparts": json.dumps(raw)}
    assert sc.row_counterparts(row) == cps and sc.row_translations(row) == ts
    # rewriting the counterparts keeps the translations, and the other way round
    again = sc.with_counterparts(raw, [])
    assert sc.row_translations({"counterparts": again}) == ts
    assert sc.row_counterparts({"counterparts": again}) == []
    cleared = sc.with_translations(raw, [])
    assert sc.row_translations({"counterparts": cleared}) == []
    assert sc.row_counterparts({"counterparts": cleared}) == cps
    # a row written before translations existed reads as none
    assert sc.row_translations({"counterparts": {"items": []}}) == []
    assert sc.row_translations({"counterparts": "not json"}) == []


def _detects_an_unrelated_pair_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """The detector proposes the true pair and two unrelated pages (as it can when a page's
    own translation is missing and a sibling built from the same template stands in)."""
    import reportrag.ingest.translations as translations

    def detect(declared: object, declared_langs: object, loaded: object, params: object,
               out: translations.TranslationSync) -> list[PairSpec]:
        out.detection = {"ran": True}
        return [PairSpec("guide-en", "guide-zh", DETECTED, 0.97),
                PairSpec("notes-en", "faq-zh", DETECTED, 0.6)]

    monkeypatch.setattr(translations, "_detect", detect)


def test_a_detected_pair_whose_passages_do_not_align_is_not_recorded(
        monkeypatch: pytest.MonkeyPatch) -> None:
    store, metas = _translated_site()

    _detects_an_unrelated_pair_too(monkeypatch)
    sync = sync_translations(metas, store=store)
    by_pair = {(r.src_doc, r.tgt_doc): r for r in sync.reports}
    unrelated = by_pair[("notes-en", "faq-zh")]
    assert unrelated.aligned and unrelated.links == 0 and unrelated.rejected
    assert "not a translation pair after all" in unrelated.warnings[-1]
    assert not by_pair[("guide-en", "guide-zh")].rejected
    assert set(store.records) == {"guide-en", "guide-zh"}  # only the true pair is recorded
    assert store.links("notes-en", "faq-zh") == 0 and store.links("guide-en", "guide-zh") >= 14


def test_a_rejected_pair_stays_rejected_when_a_later_run_detects_it_again(
        monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from reportrag.ingest.align_step import align_documents
    from reportrag.ingest.checkpoint import Checkpoint
    from reportrag.ingest.report import Tracker

    store, metas = _translated_site()

    _detects_an_unrelated_pair_too(monkeypatch)
    keys = {m.doc_id: f"key-{m.doc_id}" for m in metas}
    checkpoint = Checkpoint(tmp_path / "checkpoint.jsonl", "gen")
    first, _ = align_documents(metas, metas, store, keys, set(), checkpoint, Tracker(), False)
    assert {(r["src_doc"], r["rejected"]) for r in first} == {
        ("guide-en", False), ("notes-en", True)}
    # A later run: every document unchanged (skipped) but detection runs again. The true
    # pair is current; the rejected one is aligned and dropped again, never recorded.
    again, _ = align_documents(metas, metas, store, keys, set(keys), checkpoint, Tracker(),
                               True)
    assert [(r["src_doc"], r["rejected"]) for r in again] == [("notes-en", True)]
    assert set(store.records) == {"guide-en", "guide-zh"}


def test_cli_says_on_stderr_what_was_not_aligned(capsys) -> None:
    from reportrag.api.commands.ingest import _print_alignments

    base = {"warnings": [], "chunks_updated": 0, "mean_confidence": 0.0, "confidence": 0.0}
    _print_alignments([
        {**base, "src_doc": "a-en", "tgt_doc": "a-zh", "source": "detected", "aligned": True,
         "links": 12, "chunks_updated": 24, "mean_confidence": 0.9, "confidence": 0.97},
        {**base, "src_doc": "glm4-en", "tgt_doc": "glm4-zh", "source": "declared",
         "aligned": True, "links": 0, "warnings": ["mean confidence 0.10 < 0.5"]},
        {**base, "src_doc": "x", "tgt_doc": "y", "source": "declared", "aligned": False,
         "links": 0, "warnings": ["y: no chunks in the store; not aligned"]},
        {**base, "src_doc": "p-en", "tgt_doc": "q-zh", "source": "detected", "aligned": True,
         "links": 0, "rejected": True},
    ])
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "aligned a-en ↔ a-zh (detected): 12 links, 24 chunks updated, mean confidence 0.90, "
        "document confidence 0.97"
    ]
    assert "glm4-en ↔ glm4-zh (declared): aligned, but no link is confident enough" in err
    assert "warning: glm4-en ↔ glm4-zh (declared): mean confidence 0.10" in err
    assert "x ↔ y (declared): not aligned" in err
    assert "p-en ↔ q-zh (detected): not a translation pair after all" in err


def test_documents_endpoint_shows_translations() -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from reportrag.api.deps import get_service, require_read_key
    from reportrag.api.routes import documents

    doc = {"doc_id": "a-en", "title": "A", "kind": "article", "date": "", "chunks": 3,
           "langs": {"en": 3}, "sections": [],
           "translations": [{"doc_id": "a-zh", "confidence": 0.97, "source": "detected"}]}

    class Service:
        class store:
            @staticmethod
            def documents() -> list[dict]:
                return [doc]

    app = FastAPI()
    app.include_router(documents.router)
    app.dependency_overrides[get_service] = lambda: Service()
    app.dependency_overrides[require_read_key] = lambda: None
    client = TestClient(app)
    got = client.get("/v1/documents").json()["documents"][0]
    assert got["translations"] == doc["translations"]
    assert client.get("/v1/documents/a-en").json()["translations"][0]["source"] == "detected"
    bare = {k: v for k, v in doc.items() if k != "translations"}
    Service.store.documents = staticmethod(lambda: [bare])  # type: ignore[method-assign]
    assert client.get("/v1/documents").json()["documents"][0]["translations"] == []


def test_align_translations_without_pairs_declares_from_the_metas() -> None:
    store, _ = _translated_site()
    metas = [_meta("guide-en", "en", "guide-zh"), _meta("guide-zh", "zh")]
    (report,) = align_translations(metas, store=store)
    assert report.source == "declared" and report.links >= 14 and report.warnings == []


def test_a_run_over_some_files_keeps_the_pairs_declared_by_the_others() -> None:
    store, _ = _translated_site()
    everything = [_meta("guide-en", "en", "guide-zh"), _meta("guide-zh", "zh"),
                  _meta("notes-en"), _meta("faq-zh")]
    sync_translations(everything, store=store)
    assert store.records["guide-zh"][0].source == "declared"
    # a run over guide-zh alone: its own entry declares nothing, guide-en's is not read
    sync = sync_translations([_meta("guide-zh", "zh")], store=store)
    assert sync.unlinked == [] and store.links("guide-zh", "guide-en") >= 14
    assert store.records["guide-zh"][0] == Translation(
        "guide-en", store.records["guide-en"][0].confidence, "declared"
    )

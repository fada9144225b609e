"""Synthetic chunks for the scale benchmark that look like the real corpus to an index.

The generator (documented in docs/benchmarks.md, "Scale"):

* **Centres** are real: every corpus paragraph (>= 80 characters, first 700 of them kept)
  embedded once with the project's document embedder (multilingual-e5-small, ``passage:``
  prompt), cached under ``.cache/``.
* **Noise is shaped like the corpus**: a random combination of the centred corpus vectors
  (so it follows the corpus's own covariance, the directions e5 actually uses) plus 10 %
  isotropic noise, with a norm relative to a paragraph's typical deviation from the corpus
  mean (the common component of e5 vectors is left alone).
* **Two levels**: each synthetic document takes the vector of a real paragraph in its own
  language plus noise (0.40 x the typical deviation); each chunk is its document plus noise
  (0.48 x); everything is L2-normalised. Queries are held-out noisy copies of document
  vectors (0.80 x), never rows of the collection. ``realism()`` reports how the result
  compares with the real embeddings (mean pairwise cosine 0.74 synthetic vs 0.80 real).
* **Metadata**: ``doc_id`` from ``docs`` documents whose sizes follow a log-normal law (a few
  long reports, many short articles); ``lang`` per document en/zh/de = 60/30/10 %; ``kind``
  article/report/note = 70/20/10 %; ``date`` a day in 2015-2025 (3 % undated); ``section``
  a two-level path in the document's language; ``text`` a 120-280 character slice of a real
  paragraph in that language (short on purpose: 1M rows stay ~0.4 GB of text); counterparts
  empty; ids built like the ingester's (``doc:ordinal:hash``).
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from reportrag.types import Chunk, content_hash, make_chunk_id

REPO = Path(__file__).resolve().parent.parent
LANGS = ("en", "zh", "de")
LANG_P = (0.6, 0.3, 0.1)
KINDS = ("article", "report", "note")
KIND_P = (0.7, 0.2, 0.1)
SECTIONS = {
    "en": ["Introduction", "Market overview", "Funding", "Licensing", "Community", "Outlook"],
    "zh": ["引言", "市场概况", "融资", "许可证", "社区", "展望"],
    "de": ["Einleitung", "Marktüberblick", "Finanzierung", "Lizenzen", "Gemeinschaft", "Ausblick"],
}
# Noise norms relative to a paragraph's typical deviation from the corpus mean.
DOC_NOISE, CHUNK_NOISE, QUERY_NOISE = 0.40, 0.48, 0.80
EPOCH = date(2015, 1, 1)
DAYS = (date(2025, 12, 31) - EPOCH).days


@dataclass
class Centres:
    """Real corpus paragraphs and their e5 passage embeddings."""

    vectors: np.ndarray  # (m, dim) float32, L2-normalised
    texts: list[str]
    langs: list[str]


def corpus_paragraphs(limit: int = 700) -> tuple[list[str], list[str]]:
    """(texts, langs) of the corpus paragraphs of at least 80 characters."""
    manifest = tomllib.loads((REPO / "corpus" / "manifest.toml").read_text(encoding="utf-8"))
    lang_of = {d["file"]: d.get("lang", "en") for d in manifest.get("documents", [])}
    texts: list[str] = []
    langs: list[str] = []
    for path in sorted((REPO / "corpus").glob("00*.txt")):
        for para in re.split(r"\n\s*\n|\n", path.read_text(encoding="utf-8")):
            para = " ".join(para.split())
            if len(para) >= 80:
                texts.append(para[:700])
                langs.append(lang_of.get(path.name, "en"))
    step = max(1, len(texts) // limit)
    return texts[::step][:limit], langs[::step][:limit]


def load_centres(cache_dir: Path) -> Centres:
    """The embedded corpus paragraphs, from the cache or embedded now (about a minute)."""
    texts, langs = corpus_paragraphs()
    key = hashlib.sha256("\x1e".join(texts).encode()).hexdigest()[:12]
    cache = cache_dir / f"scale-centres-{key}.npy"
    if cache.exists():
        vectors = np.load(cache)
    else:
        from reportrag.settings import Settings
        from reportrag.wiring import embedder_from_settings

        embedder = embedder_from_settings(Settings())
        vectors = np.asarray(embedder.embed_documents(texts), dtype=np.float32)
        cache_dir.mkdir(parents=True, exist_ok=True)
        np.save(cache, vectors)
    return Centres(vectors=vectors, texts=texts, langs=langs)


@dataclass
class Synthetic:
    """N rows (grouped by document, in ordinal order) and held-out queries."""

    vectors: np.ndarray  # (n, dim) float32
    row_doc: np.ndarray  # (n,) document index
    row_ordinal: np.ndarray  # (n,)
    row_para: np.ndarray  # (n,) corpus paragraph the text is cut from
    row_start: np.ndarray  # (n,) slice start in that paragraph
    row_len: np.ndarray  # (n,) slice length
    doc_offset: np.ndarray  # (docs + 1,) first row of each document
    doc_lang: np.ndarray  # (docs,) index into LANGS
    doc_kind: np.ndarray  # (docs,) index into KINDS
    doc_day: np.ndarray  # (docs,) days since EPOCH, -1 = undated
    doc_sections: np.ndarray  # (docs, 2) section vocabulary indices
    queries: np.ndarray  # (q, dim) float32
    centres: Centres

    @property
    def n(self) -> int:
        return int(self.vectors.shape[0])

    def row_date_int(self) -> np.ndarray:
        """Per row: the date as yyyymmdd, 0 when undated (for exact filtered ground truth)."""
        per_doc = np.array([_yyyymmdd(int(d)) for d in self.doc_day], dtype=np.int64)
        return per_doc[self.row_doc]

    def row_lang(self) -> np.ndarray:
        return self.doc_lang[self.row_doc]

    def doc_id(self, d: int) -> str:
        return f"syn-{d:05d}"

    def row_index(self, chunk_id: str) -> int:
        """The row of a chunk id made by :meth:`chunks` (``syn-DDDDD:OOOOO:hash``)."""
        doc, ordinal, _ = chunk_id.split(":")
        return int(self.doc_offset[int(doc[4:])]) + int(ordinal)

    def text(self, i: int) -> str:
        para = self.centres.texts[int(self.row_para[i])]
        start, end = int(self.row_start[i]), int(self.row_start[i] + self.row_len[i])
        if start and para[start - 1] != " ":  # Latin script: start on a word
            space = para.find(" ", start, start + 20)
            start = space + 1 if space >= 0 else start
        return para[start:end]

    def chunk_id(self, i: int) -> str:
        doc = int(self.row_doc[i])
        return make_chunk_id(self.doc_id(doc), int(self.row_ordinal[i]), content_hash(self.text(i)))

    def chunks(self, start: int, end: int) -> list[Chunk]:
        """Rows ``start:end`` as Chunks (the way the ingester makes them)."""
        out: list[Chunk] = []
        for i in range(start, end):
            d = int(self.row_doc[i])
            lang = LANGS[int(self.doc_lang[d])]
            words = SECTIONS[lang]
            a, b = (int(x) for x in self.doc_sections[d])
            ordinal = int(self.row_ordinal[i])
            top = 1 + ordinal * 5 // max(1, int(self.doc_offset[d + 1] - self.doc_offset[d]))
            section = f"{top} {words[a]} › {top}.{1 + ordinal % 4} {words[b]}"
            text = self.text(i)
            first, last = int(self.doc_offset[d]), int(self.doc_offset[d + 1]) - 1
            day = int(self.doc_day[d])
            out.append(
                Chunk(
                    chunk_id=self.chunk_id(i),
                    doc_id=self.doc_id(d),
                    title=f"Synthetic {KINDS[int(self.doc_kind[d])]} {d}",
                    lang=lang,
                    kind=KINDS[int(self.doc_kind[d])],
                    date="" if day < 0 else (EPOCH + timedelta(days=day)).isoformat(),
                    section=section,
                    ordinal=ordinal,
                    text=text,
                    token_count=max(1, len(text) // (2 if lang == "zh" else 4)),
                    char_start=ordinal * 250,
                    char_end=ordinal * 250 + len(text),
                    content_hash=content_hash(text),
                    prev_id=self.chunk_id(i - 1) if i > first else "",
                    next_id=self.chunk_id(i + 1) if i < last else "",
                )
            )
        return out


def _yyyymmdd(day: int) -> int:
    if day < 0:
        return 0
    d = EPOCH + timedelta(days=day)
    return d.year * 10000 + d.month * 100 + d.day


def _normalise(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


class _Noise:
    """Noise following the corpus covariance (+10 % isotropic), as long as a typical deviation.

    e5 vectors share a large common component (two unrelated corpus paragraphs have cosine
    ~0.8); noise is added to the part that varies, with the norm of a typical paragraph's
    deviation from the corpus mean, so the common component and the spread both survive.
    """

    def __init__(self, centres: np.ndarray, rng: np.random.Generator) -> None:
        self.mean = centres.mean(axis=0).astype(np.float32)
        self.basis = (centres - self.mean).astype(np.float32)
        self.spread = float(np.mean(np.linalg.norm(self.basis, axis=1)))
        self.rng = rng

    def __call__(self, k: int) -> np.ndarray:
        m, dim = self.basis.shape
        shaped = _normalise(self.rng.standard_normal((k, m), dtype=np.float32) @ self.basis)
        iso = _normalise(self.rng.standard_normal((k, dim), dtype=np.float32))
        return _normalise(shaped + 0.1 * iso) * self.spread


def generate(centres: Centres, n: int, *, docs: int, queries: int, seed: int) -> Synthetic:
    """N synthetic rows over ``docs`` documents and ``queries`` held-out query vectors."""
    rng = np.random.default_rng(seed)
    noise = _Noise(centres.vectors, rng)
    docs = min(docs, n)
    doc_lang = rng.choice(len(LANGS), size=docs, p=LANG_P)
    doc_kind = rng.choice(len(KINDS), size=docs, p=KIND_P)
    doc_day = np.where(rng.random(docs) < 0.03, -1, rng.integers(0, DAYS + 1, size=docs))
    doc_sections = rng.integers(0, len(SECTIONS["en"]), size=(docs, 2))
    # Document sizes: log-normal weights, every document at least one chunk.
    weights = rng.lognormal(0.0, 1.0, size=docs)
    sizes = 1 + rng.multinomial(n - docs, weights / weights.sum())
    doc_offset = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    by_lang = {li: np.flatnonzero(np.array(centres.langs) == lang) for li, lang in enumerate(LANGS)}
    everything = np.arange(len(centres.texts))
    doc_para = np.array(
        [rng.choice(by_lang[int(li)] if by_lang[int(li)].size else everything) for li in doc_lang]
    )
    doc_vec = _normalise(centres.vectors[doc_para] + DOC_NOISE * noise(docs))

    row_doc = np.repeat(np.arange(docs), sizes)
    row_ordinal = np.arange(n) - doc_offset[row_doc]
    vectors = np.empty((n, centres.vectors.shape[1]), dtype=np.float32)
    for s in range(0, n, 50_000):
        e = min(n, s + 50_000)
        vectors[s:e] = _normalise(doc_vec[row_doc[s:e]] + CHUNK_NOISE * noise(e - s))
    # Text: a slice of a real paragraph in the document's language (a nearby one, varied).
    lang_paras = [by_lang[int(li)] if by_lang[int(li)].size else everything for li in doc_lang]
    row_para = np.array(
        [lang_paras[d][(i * 7919) % lang_paras[d].size] for i, d in enumerate(row_doc)]
    )
    para_len = np.array([len(t) for t in centres.texts])[row_para]
    row_len = np.minimum(rng.integers(120, 281, size=n), para_len)
    row_start = (rng.random(n) * (para_len - row_len + 1)).astype(np.int64)

    query_docs = rng.choice(docs, size=queries, p=sizes / sizes.sum())
    qvec = _normalise(doc_vec[query_docs] + QUERY_NOISE * noise(queries))
    return Synthetic(
        vectors=vectors,
        row_doc=row_doc,
        row_ordinal=row_ordinal,
        row_para=row_para,
        row_start=row_start,
        row_len=row_len,
        doc_offset=doc_offset,
        doc_lang=doc_lang,
        doc_kind=doc_kind,
        doc_day=doc_day,
        doc_sections=doc_sections,
        queries=qvec,
        centres=centres,
    )


def realism(data: Synthetic, sample: int = 2000, seed: int = 0) -> dict[str, float]:
    """Similarity statistics of the synthetic rows next to the real corpus embeddings."""
    rng = np.random.default_rng(seed)
    real = data.centres.vectors

    def stats(x: np.ndarray) -> tuple[float, float]:
        sims = x @ x.T
        np.fill_diagonal(sims, -1.0)
        nn = sims.max(axis=1)
        iu = np.triu_indices(len(x), 1)
        return float(np.mean(sims[iu])), float(np.mean(nn))

    real_mean, real_nn = stats(real)
    rows = data.vectors[rng.choice(data.n, size=min(sample, data.n), replace=False)]
    syn_mean, _ = stats(rows)
    q_top1 = float(np.mean(np.max(data.queries[:200] @ data.vectors.T, axis=1)))
    return {
        "real_corpus_mean_cos": round(real_mean, 4),
        "real_corpus_nearest_neighbour_cos": round(real_nn, 4),
        "synthetic_mean_cos": round(syn_mean, 4),
        "query_top1_cos": round(q_top1, 4),
    }

"""Find the documents that translate each other from their content alone (no manifest).

Pure functions over data: each document's language, chunks and vectors in, scored pairs
out. Nothing here reads the store or the file names (doc ids are labels only), so the
detector can be measured honestly on sets whose names give the pairs away.

Three stages, the way a search engine retrieves, re-ranks and decides:

1. **Candidates** (cheap, recall-oriented). Per document and per other language, the
   ``neighbours`` documents of that language whose mean vector is nearest by CSLS
   (cosine minus the two documents' mean similarity to their ``hub_k`` nearest documents of
   the other's language), so that a hub (a long document close to everything) does not
   crowd out the true counterpart. Pairs whose lengths (embedding tokens) differ by more
   than ``max_length_ratio`` are dropped: a translation is not four times as long.
2. **Evidence** for each candidate, from two independent tests:

   * *Votes* (is it the best of the alternatives?): every chunk of ``a`` votes for the
     document, among ``a``'s candidates of ``b``'s language (its *pool*), holding its best
     matching chunk, by chunk-level CSLS (a target chunk close to everything, such as a
     table or a licence header, has its similarity lowered by its mean similarity to
     chunks of ``a``'s language). ``votes(a→b)`` is the share of ``a``'s chunks voting for
     ``b``, with ``vote_prior`` pseudo-votes at chance. *Chance* is ``b``'s share of the
     pool's chunks: what a chunk with no counterpart would give ``b``.
   * *Coverage* (are the two documents parallel?): :func:`reportrag.ingest.align.align_pair`, the
     monotonic chunk aligner used for declared pairs; the share of each side's chunks with
     a link of confidence at least 0.5.

   A direction scores ``max(0, votes − chance) + chance × coverage``: the votes beyond
   chance count in full, the chance share only as far as the alignment confirms it. With
   many competitors chance is small and the votes decide (sibling pages built from one
   template align well and are told apart only by competition); with few (a corpus holding
   one German document: every German vote goes to it) chance is large and only a parallel
   alignment can earn the score. The pair's **score** is the geometric mean of the two
   directions, and its **confidence** ``sigmoid(slope × (score − threshold))``.
3. **Assignment** (one-to-one, groups). Pairs at or above ``threshold``, best first, join
   translation groups like Kruskal's algorithm joins trees: an edge is accepted only if the
   two groups it merges have no language in common, so a document gets at most one
   counterpart per other language and an en/zh/de triple becomes one group. Declared pairs
   are merged first and are never undone. Every two documents of a detected group form a
   pair; one that no accepted edge joins directly (implied through the third document)
   gets the weaker of its two edges' confidences, or its own when that is higher.

Calibration (eval/pairs-dev, 98 pages of six documentation sites, 51 true pairs, and
corpus/, one translated report and three unrelated articles; eval/realdocs is held out):
true pairs score ≥ 0.69, false candidates ≤ 0.35; ``threshold`` = 0.5 sits between, and
the slope puts those at confidence ≥ 0.9 and ≤ 0.15. ``bench/pairs.py`` prints the margins.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from reportrag.ingest.align import align_pair
from reportrag.langid import script_profile
from reportrag.types import Chunk

CJK_LANGS = frozenset({"zh", "ja", "ko"})
UNKNOWN_LANGS = frozenset({"", "und"})
LINK_CONFIDENCE = 0.5  # a chunk counts as aligned with a link at least this confident


@dataclass(frozen=True)
class PairParams:
    """Knobs of the detector (see the module docstring for what each one does)."""

    neighbours: int = 5
    hub_k: int = 3
    chunk_hub_k: int = 5
    hub_sample: int = 4096
    max_length_ratio: float = 4.0
    vote_prior: float = 1.0
    threshold: float = 0.5
    slope: float = 12.0
    cjk_share: float = 0.1


DEFAULT_PAIR_PARAMS = PairParams()


@dataclass
class DocumentSample:
    """What the detector knows of one document: its language, chunks and their vectors."""

    doc_id: str
    lang: str
    chunks: list[Chunk]  # in document order
    vectors: np.ndarray  # (len(chunks), dim), one row per chunk

    def __post_init__(self) -> None:
        if len(self.chunks) != len(self.vectors):
            raise ValueError(f"{self.doc_id}: one vector per chunk is needed")

    @property
    def tokens(self) -> int:
        return sum(max(1, c.token_count) for c in self.chunks)


@dataclass(frozen=True)
class PairEvidence:
    """Why two documents are (or are not) taken for translations of each other."""

    a: str
    b: str
    similarity: float  # document-level CSLS of the mean vectors
    votes: tuple[float, float]  # a's chunks voting for b, b's for a
    chance: tuple[float, float]  # the same shares expected of unrelated chunks
    coverage: tuple[float, float]  # aligned share of a's and of b's chunks
    mean_confidence: float  # of the aligned beads
    score: float
    confidence: float


@dataclass(frozen=True)
class DetectedPair:
    """Two documents taken for translations; ``implied`` if joined through a third one."""

    a: str
    b: str
    confidence: float
    implied: bool = False


@dataclass
class Detection:
    """The pairs found, and the evidence of every candidate that was verified."""

    pairs: list[DetectedPair]
    evidence: list[PairEvidence]  # of the candidates (declared pairs left out)
    fixed_evidence: list[PairEvidence] = field(default_factory=list)  # of the declared pairs
    candidates: int = 0
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)


def document_language(chunks: Sequence[Chunk], cjk_share: float = PairParams.cjk_share) -> str:
    """A document's language from its chunks, robust to code and quoted originals.

    Chunks that carry their document's language (``doc_lang``, found from all its prose at
    ingestion) settle it; the rule below is for chunks stored without one.

    Code, identifiers and command lines read as English, so a Chinese page that is half code
    has a majority of "English" chunks. Chinese prose is what such a page adds: a document
    whose CJK characters are at least ``cjk_share`` of its words (CJK characters plus Latin
    words) is in the CJK language of most of its CJK chunks' tokens. (English pages hold a
    few percent at most, a Chinese table row or name; Chinese pages 25 % and more.)
    Otherwise the language with the most tokens among the other chunks wins.
    """
    recorded = {c.doc_lang for c in chunks if c.doc_lang and c.doc_lang not in UNKNOWN_LANGS}
    if len(recorded) == 1:
        return recorded.pop()
    if not chunks:
        return "und"
    profile = script_profile("\n".join(c.text for c in chunks))
    weight: Counter[str] = Counter()
    for c in chunks:
        weight[c.lang] += max(1, c.token_count)
    words = profile.cjk + profile.latin_words
    cjk = [lang for lang in weight if lang in CJK_LANGS]
    if words and profile.cjk / words >= cjk_share:
        return max(cjk, key=lambda lang: weight[lang]) if cjk else "zh"
    rest = [lang for lang in weight if lang not in CJK_LANGS and lang not in UNKNOWN_LANGS]
    if not rest:
        return max(weight, key=lambda lang: weight[lang])
    return max(sorted(rest), key=lambda lang: weight[lang])


# -- stage 1: candidates ---------------------------------------------------------------------


def _unit_rows(x: np.ndarray) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    return arr / np.where(norms > 0, norms, 1.0)


def _top_mean(sim: np.ndarray, k: int, axis: int) -> np.ndarray:
    """Mean of the ``k`` largest entries along ``axis`` (all of them when fewer)."""
    size = sim.shape[axis]
    if size == 0:
        return np.zeros(sim.shape[1 - axis], dtype=np.float32)
    k = min(k, size)
    part = -np.partition(-sim, k - 1, axis=axis)
    top = part[:k] if axis == 0 else part[:, :k]
    return top.mean(axis=axis)


def _pools(
    docs: Sequence[DocumentSample], params: PairParams
) -> tuple[dict[tuple[str, str], list[str]], dict[tuple[str, str], float]]:
    """Per (document, other language): its nearest documents there; and the pairs' CSLS."""
    by_lang: dict[str, list[int]] = {}
    for i, d in enumerate(docs):
        if d.lang not in UNKNOWN_LANGS and len(d.chunks):
            by_lang.setdefault(d.lang, []).append(i)
    centroids = _unit_rows(np.stack([d.vectors.mean(axis=0) for d in docs]))
    pools: dict[tuple[str, str], list[str]] = {}
    similarity: dict[tuple[str, str], float] = {}
    langs = sorted(by_lang)
    for x, lx in enumerate(langs):
        for ly in langs[x + 1 :]:
            rows, cols = by_lang[lx], by_lang[ly]
            sim = centroids[rows] @ centroids[cols].T
            # CSLS: a document near everything of the other language (a hub) is discounted
            csls = 2 * sim - _top_mean(sim, params.hub_k, 1)[:, None]
            csls -= _top_mean(sim, params.hub_k, 0)[None, :]
            for axis, (own, other, lang) in enumerate(((rows, cols, ly), (cols, rows, lx))):
                table = csls if axis == 0 else csls.T
                for r, i in enumerate(own):
                    order = np.argsort(-table[r], kind="stable")[: params.neighbours]
                    pools[(docs[i].doc_id, lang)] = [docs[other[c]].doc_id for c in order]
            for r, i in enumerate(rows):
                for c, j in enumerate(cols):
                    key = _key(docs[i].doc_id, docs[j].doc_id)
                    similarity[key] = float(csls[r, c])
    return pools, similarity


def _key(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


def candidate_pairs(
    docs: Sequence[DocumentSample],
    params: PairParams = DEFAULT_PAIR_PARAMS,
    fixed: Iterable[tuple[str, str]] = (),
) -> tuple[list[tuple[str, str]], dict[tuple[str, str], list[str]], dict[tuple[str, str], float]]:
    """Pairs worth verifying (sorted ids), the vote pools, and the pairs' similarity.

    The pools are made symmetric: when ``b`` is among ``a``'s nearest, ``a`` joins ``b``'s
    pool, so both directions of every candidate are voted on against real competitors (a
    document that ``b`` does not count among its nearest gets few of its votes, as it
    should). ``fixed`` pairs join the pools too, to be measured the same way.
    """
    pools, similarity = _pools(docs, params)
    tokens = {d.doc_id: d.tokens for d in docs}
    lang = {d.doc_id: d.lang for d in docs}
    pairs: set[tuple[str, str]] = set()
    for (doc, _lang), pool in list(pools.items()):
        for other in pool:
            ratio = max(tokens[doc], tokens[other]) / max(1, min(tokens[doc], tokens[other]))
            if ratio <= params.max_length_ratio:
                pairs.add(_key(doc, other))
    for a, b in [*pairs, *fixed]:
        if a in lang and b in lang and lang[a] != lang[b]:
            for x, y in ((a, b), (b, a)):
                pool = pools.setdefault((x, lang[y]), [])
                if y not in pool:
                    pool.append(y)
    return sorted(pairs), pools, similarity


# -- stage 2: evidence -----------------------------------------------------------------------


def _sample_rows(vectors: np.ndarray, limit: int) -> np.ndarray:
    """At most ``limit`` rows, evenly spread (deterministic: the same corpus, the same rows)."""
    if len(vectors) <= limit:
        return vectors
    picks = np.linspace(0, len(vectors) - 1, num=limit).round().astype(int)
    return vectors[picks]


def chunk_votes(
    docs: Sequence[DocumentSample],
    pools: dict[tuple[str, str], list[str]],
    params: PairParams = DEFAULT_PAIR_PARAMS,
) -> dict[tuple[str, str], tuple[float, float]]:
    """(a, b) → (share of a's chunks whose best match in a's pool is in b, chance of that)."""
    by_id = {d.doc_id: d for d in docs}
    unit = {d.doc_id: _unit_rows(d.vectors) for d in docs}
    # A chunk's hubness towards each language: its mean similarity to its nearest chunks of
    # that language (over an even sample of them, so the cost stays linear in the corpus).
    samples: dict[str, np.ndarray] = {}
    for lang in {d.lang for d in docs}:
        rows = [unit[d.doc_id] for d in docs if d.lang == lang and len(d.chunks)]
        if rows:
            samples[lang] = _sample_rows(np.concatenate(rows), params.hub_sample)
    hub: dict[tuple[str, str], np.ndarray] = {}

    def hubness(doc_id: str, lang: str) -> np.ndarray:
        if (doc_id, lang) not in hub:
            hub[(doc_id, lang)] = _top_mean(unit[doc_id] @ samples[lang].T, params.chunk_hub_k, 1)
        return hub[(doc_id, lang)]

    out: dict[tuple[str, str], tuple[float, float]] = {}
    for (doc, _lang), pool in pools.items():
        source = unit[doc]
        if not len(source) or not pool:
            continue
        sizes = [len(by_id[p].chunks) for p in pool]
        targets = np.concatenate([unit[p] for p in pool])
        hubs = np.concatenate([hubness(p, by_id[doc].lang) for p in pool])
        # CSLS up to a per-row constant: cos(s, t) − hub(t) / 2 … times two, argmax the same
        best = np.argmax(2 * (source @ targets.T) - hubs[None, :], axis=1)
        owner = np.repeat(np.arange(len(pool)), sizes)
        hits = np.bincount(owner[best], minlength=len(pool))
        total = float(sum(sizes))
        for k, other in enumerate(pool):
            chance = sizes[k] / total
            share = (hits[k] + params.vote_prior * chance) / (len(source) + params.vote_prior)
            out[(doc, other)] = (float(share), float(chance))
    return out


def direction_score(votes: float, chance: float, coverage: float) -> float:
    """Votes beyond chance, plus the chance share as far as the alignment confirms it.

    Votes below chance subtract nothing: with two or three documents in a language a
    neighbour on the same topic can draw most votes, and then the alignment alone decides.
    """
    return max(0.0, votes - chance) + chance * coverage


def pair_score(
    votes: tuple[float, float], chance: tuple[float, float], coverage: tuple[float, float]
) -> float:
    """Geometric mean of the two directions' scores (both documents must agree)."""
    ab = direction_score(votes[0], chance[0], coverage[0])
    ba = direction_score(votes[1], chance[1], coverage[1])
    return math.sqrt(ab * ba)


def confidence_of(score: float, params: PairParams = DEFAULT_PAIR_PARAMS) -> float:
    """The pair's confidence: a logistic curve centred on the acceptance threshold."""
    x = max(-60.0, min(60.0, params.slope * (score - params.threshold)))
    return 1.0 / (1.0 + math.exp(-x))


def alignment_coverage(a: DocumentSample, b: DocumentSample) -> tuple[tuple[float, float], float]:
    """Aligned share of each side's chunks and the beads' mean confidence (align_pair)."""
    if not len(a.chunks) or not len(b.chunks):
        return (0.0, 0.0), 0.0
    alignment = align_pair(
        a.chunks, a.vectors, b.chunks, b.vectors, min_confidence=LINK_CONFIDENCE
    )
    return alignment.linked_fraction, alignment.mean_confidence


def verify(
    a: DocumentSample,
    b: DocumentSample,
    votes: dict[tuple[str, str], tuple[float, float]],
    similarity: float = 0.0,
    params: PairParams = DEFAULT_PAIR_PARAMS,
) -> PairEvidence:
    """The evidence for one candidate pair (votes from :func:`chunk_votes`)."""
    # No vote measured (one language, or a document alone in its language's pool): the
    # alignment alone decides (chance 1).
    ab = votes.get((a.doc_id, b.doc_id), (0.0, 1.0))
    ba = votes.get((b.doc_id, a.doc_id), (0.0, 1.0))
    coverage, mean_confidence = alignment_coverage(a, b)
    v, ch = (ab[0], ba[0]), (ab[1], ba[1])
    score = pair_score(v, ch, coverage)
    return PairEvidence(
        a=a.doc_id,
        b=b.doc_id,
        similarity=round(similarity, 4),
        votes=(round(v[0], 4), round(v[1], 4)),
        chance=(round(ch[0], 4), round(ch[1], 4)),
        coverage=(round(coverage[0], 4), round(coverage[1], 4)),
        mean_confidence=round(mean_confidence, 4),
        score=round(score, 4),
        confidence=round(confidence_of(score, params), 3),
    )


# -- stage 3: assignment ---------------------------------------------------------------------


class _Groups:
    """Union-find over documents that remembers the languages of each group."""

    def __init__(self, langs: dict[str, str]) -> None:
        self.parent = {d: d for d in langs}
        self.langs = {d: {lang} for d, lang in langs.items()}

    def find(self, d: str) -> str:
        root = d
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[d] != root:  # path compression
            self.parent[d], d = root, self.parent[d]
        return root

    def can_join(self, a: str, b: str) -> bool:
        ra, rb = self.find(a), self.find(b)
        return ra != rb and not (self.langs[ra] & self.langs[rb])

    def join(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra
            self.langs[ra] |= self.langs.pop(rb)

    def members(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for d in sorted(self.parent):
            out.setdefault(self.find(d), []).append(d)
        return out


def assign(
    evidence: Iterable[PairEvidence],
    langs: dict[str, str],
    fixed: Iterable[tuple[str, str]] = (),
    params: PairParams = DEFAULT_PAIR_PARAMS,
) -> list[DetectedPair]:
    """Accepted pairs: at most one counterpart per language, groups closed under pairing.

    ``fixed`` pairs (declared in the manifest) are joined first and never reported here;
    a detected pair never puts two documents of one language into a group with them.
    """
    groups = _Groups(langs)
    for a, b in fixed:
        if a in langs and b in langs:
            groups.join(a, b)
    fixed_keys = {_key(a, b) for a, b in fixed}
    accepted: dict[tuple[str, str], float] = {}
    ranked = sorted(evidence, key=lambda e: (-e.score, _key(e.a, e.b)))
    for e in ranked:
        if e.score < params.threshold:
            continue
        if groups.find(e.a) == groups.find(e.b):
            accepted[_key(e.a, e.b)] = e.confidence  # joined already, and confirmed directly
        elif groups.can_join(e.a, e.b):
            groups.join(e.a, e.b)
            accepted[_key(e.a, e.b)] = e.confidence
    direct = {_key(e.a, e.b): e.confidence for e in ranked}
    pairs: list[DetectedPair] = []
    for members in groups.members().values():
        if len(members) < 2:
            continue
        edges = {k: c for k, c in accepted.items() if k[0] in members}
        if not edges:
            continue  # a declared group that detection added nothing to
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                key = _key(a, b)
                if key in fixed_keys:
                    continue
                if key in accepted:
                    pairs.append(DetectedPair(a, b, accepted[key]))
                else:
                    via = _bottleneck(a, b, edges, fixed_keys)
                    conf = max(via, direct.get(key, 0.0))
                    pairs.append(DetectedPair(a, b, round(conf, 3), implied=True))
    return sorted(pairs, key=lambda p: (p.a, p.b))


def _bottleneck(
    a: str, b: str, edges: dict[tuple[str, str], float], fixed: set[tuple[str, str]]
) -> float:
    """The best weakest-edge confidence over paths from a to b (declared edges count as 1)."""
    weights = dict(edges)
    weights.update({k: 1.0 for k in fixed})
    best = {a: 1.0}
    frontier = [a]
    while frontier:  # groups hold one document per language: a handful of nodes
        node = frontier.pop()
        for (x, y), w in weights.items():
            if node not in (x, y):
                continue
            other = y if node == x else x
            value = min(best[node], w)
            if value > best.get(other, -1.0):
                best[other] = value
                frontier.append(other)
    return best.get(b, 0.0)


# -- the whole detector ----------------------------------------------------------------------


def detect_translations(
    docs: Sequence[DocumentSample],
    *,
    fixed: Iterable[tuple[str, str]] = (),
    params: PairParams = DEFAULT_PAIR_PARAMS,
) -> Detection:
    """Translation pairs among ``docs`` beyond the ``fixed`` (declared) ones.

    Documents of an unknown language or without chunks take no part. A document with a
    declared counterpart in some language gets no detected one in that language.
    """
    started = time.perf_counter()
    usable = [d for d in docs if d.lang not in UNKNOWN_LANGS and len(d.chunks)]
    fixed = [p for p in fixed]
    stages: dict[str, float] = {}
    if not usable or (len({d.lang for d in usable}) < 2 and not fixed):
        return Detection([], [], [], 0, round(time.perf_counter() - started, 3), stages)
    t = time.perf_counter()
    pairs, pools, similarity = candidate_pairs(usable, params, fixed)
    stages["candidates"] = round(time.perf_counter() - t, 3)
    t = time.perf_counter()
    votes = chunk_votes(usable, pools, params)
    stages["votes"] = round(time.perf_counter() - t, 3)
    t = time.perf_counter()
    by_id = {d.doc_id: d for d in usable}
    fixed_keys = {_key(a, b) for a, b in fixed}
    evidence = [
        verify(by_id[a], by_id[b], votes, similarity.get((a, b), 0.0), params)
        for a, b in pairs
        if (a, b) not in fixed_keys
    ]
    # Declared pairs are measured the same way (their confidence is shown, and a low one
    # warns), whether or not they were candidates, but never compete in the assignment.
    fixed_evidence = [
        verify(by_id[a], by_id[b], votes, similarity.get((a, b), 0.0), params)
        for a, b in sorted(fixed_keys)
        if a in by_id and b in by_id
    ]
    stages["verify"] = round(time.perf_counter() - t, 3)
    langs = {d.doc_id: d.lang for d in usable}
    found = assign(evidence, langs, fixed, params)
    return Detection(
        pairs=found,
        evidence=evidence,
        fixed_evidence=fixed_evidence,
        candidates=len(pairs),
        seconds=round(time.perf_counter() - started, 3),
        stage_seconds=stages,
    )

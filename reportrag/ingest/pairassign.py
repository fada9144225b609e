"""Stage 3 of the translation detector: accepted pairs, one counterpart per language.

See :mod:`reportrag.ingest.pairs` for how pairs join translation groups.
"""

from __future__ import annotations

from collections.abc import Iterable

from reportrag.ingest.pairmodel import (
    DEFAULT_PAIR_PARAMS,
    DetectedPair,
    PairEvidence,
    PairParams,
    ordered_pair,
)


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
    fixed_keys = {ordered_pair(a, b) for a, b in fixed}
    accepted: dict[tuple[str, str], float] = {}
    ranked = sorted(evidence, key=lambda e: (-e.score, ordered_pair(e.a, e.b)))
    for e in ranked:
        if e.score < params.threshold:
            continue
        if groups.find(e.a) == groups.find(e.b):
            # joined already, and confirmed directly
            accepted[ordered_pair(e.a, e.b)] = e.confidence
        elif groups.can_join(e.a, e.b):
            groups.join(e.a, e.b)
            accepted[ordered_pair(e.a, e.b)] = e.confidence
    direct = {ordered_pair(e.a, e.b): e.confidence for e in ranked}
    pairs: list[DetectedPair] = []
    for members in groups.members().values():
        if len(members) < 2:
            continue
        edges = {k: c for k, c in accepted.items() if k[0] in members}
        if not edges:
            continue  # a declared group that detection added nothing to
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                key = ordered_pair(a, b)
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

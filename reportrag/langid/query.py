"""The language of a search query among the languages a collection holds.

Queries are short and mix scripts ("APISIX 如何配置 mTLS？"): their language is that of their
grammar (Chinese characters, function words), not of the product names in them.
"""

from __future__ import annotations

from collections.abc import Sequence

from reportrag.langid.detector import LanguageDetector, default_detector
from reportrag.langid.evidence import (
    evidence,
    function_word_counts,
    known_languages,
    latin_scores,
    lingua_values,
)
from reportrag.langid.scripts import CJK_CODES, cjk_language
from reportrag.prose import prose_text

# With more than one alphabetic candidate, a query's Latin-script language needs this many
# words and a clear winner: this share of the evidence, or a quarter of it and half as much
# again as the runner-up (the rule LanguageDetector.detect applies to lingua alone)
MIN_QUERY_CONFIDENCE = 0.5
MIN_QUERY_WORDS = 2
# ...and, against every known language, at least this fraction of the best one's share
_MIN_PLAUSIBLE = 0.5


def detect_query(
    text: str,
    candidates: Sequence[str] | None = None,
    *,
    default: str = "",
    detector: LanguageDetector | None = None,
) -> str:
    """The language of a search query among ``candidates`` (all known languages if None).

    Pass the languages the collection holds: a query's language only matters relative to
    them, and a short query is easier to place among three languages than among eleven.
    CJK characters are Chinese/Japanese/Korean grammar and win over Latin product names
    ("APISIX 如何配置 mTLS？" is Chinese) unless the Latin part has more function words
    ("What does 开源 mean?" is English). Alphabetic text is placed by lingua weighted by
    function words. ``default`` when unsure, or when the query is clearly in a language
    that is not a candidate.
    """
    det = detector or default_detector()
    langs = known_languages(det, candidates)
    prose = prose_text(" ".join(text.split()))
    ev = evidence(prose)
    alphabetic = [c for c in langs if c not in CJK_CODES]
    everyone = list(dict.fromkeys([*alphabetic, *det.lingua_codes]))
    cjk_lang = cjk_language(ev.profile, langs)
    if cjk_lang:
        skeleton = max(function_word_counts(prose, everyone).values(), default=0)
        if ev.cjk_units >= skeleton:
            return cjk_lang
    if ev.alphabetic_words == 0 or not alphabetic:
        return default
    values = lingua_values(det, prose)
    scores = latin_scores(det, prose, alphabetic, values)
    ranked = sorted(scores.values(), reverse=True)
    best = max(scores, key=scores.__getitem__)
    if len(alphabetic) > 1:
        if ev.alphabetic_words < MIN_QUERY_WORDS:
            return default  # one word ("kubectl", "Installation") does not tell languages apart
        top, second = ranked[0], ranked[1]
        # a clear winner: a majority, or a plurality well ahead of the runner-up
        if top < MIN_QUERY_CONFIDENCE and (top < 0.25 or top < 1.5 * second):
            return default
    if len(everyone) > len(alphabetic):
        plausible = latin_scores(det, prose, everyone, values)  # against non-candidates too
        if plausible[best] < _MIN_PLAUSIBLE * max(plausible.values()):
            return default  # clearly a language the collection does not hold
    return best

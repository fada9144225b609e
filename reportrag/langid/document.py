"""The language of a document and of each of its chunks.

A chunk's own text is a poor witness of its language: code, commands, identifiers and URLs
outvote a Chinese sentence, and a short English-looking heading says nothing. So a document's
language is decided once, from all its prose, and each chunk carries it unless its own prose
is clearly, and at length, in another language.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from reportrag.langid.detector import LanguageDetector, default_detector
from reportrag.langid.evidence import (
    FUNCTION_WORDS,
    Evidence,
    evidence,
    function_word_counts,
    latin_scores,
)
from reportrag.langid.scripts import CJK_CODES, CJK_RUN, cjk_language
from reportrag.prose import prose_text


class LanguageGuess(NamedTuple):
    """A language code and how sure the guess is (0..1)."""

    lang: str
    confidence: float


# "Enough" prose for a chunk to differ from its document (about two sentences), and how much
# more of it than of the document's language it must hold: the document's language has the
# benefit of the doubt.
MIN_OTHER_WORDS = 12
MIN_OTHER_CJK_CHARS = 12
OTHER_MARGIN = 2.0
# "Clearly": lingua + function words put at least this share on the other language, and its
# function words outnumber the document language's by OTHER_MARGIN (and are at least 3).
MIN_OTHER_CONFIDENCE = 0.9
MIN_OTHER_FUNCTION_WORDS = 3
# below this much prose (in words) a document's detected language is a weak guess
_FULL_CONFIDENCE_WORDS = 50
_DOC_SAMPLE_CHARS = 8000


def _sample(text: str, size: int = _DOC_SAMPLE_CHARS, parts: int = 4) -> str:
    """At most ``size`` characters from all over ``text`` (lingua's cost grows with length)."""
    if len(text) <= size:
        return text
    step = (len(text) - size // parts) // (parts - 1)
    return "\n".join(text[i * step : i * step + size // parts] for i in range(parts))


def document_language(
    prose_texts: Iterable[str], declared: str = "", *, detector: LanguageDetector | None = None
) -> LanguageGuess:
    """A document's language from all its prose (``declared`` wins when given).

    ``prose_texts`` are the document's prose blocks (or its whole text: code, markup and
    comments are dropped here anyway). Every script votes by its amount of prose: CJK
    characters against alphabetic words; alphabetic prose is then told apart by lingua and
    function words. ``("und", 0.0)`` when there is no prose at all.
    """
    if declared.strip():
        return LanguageGuess(declared.strip().lower(), 1.0)
    det = detector or default_detector()
    prose = "\n".join(p for p in (prose_text(t) for t in prose_texts) if p)
    ev = evidence(prose)
    total = ev.cjk_units + ev.alphabetic_words
    if total == 0:
        return LanguageGuess("und", 0.0)
    size = min(1.0, total / _FULL_CONFIDENCE_WORDS)
    cjk_lang = cjk_language(ev.profile, det.languages)
    alphabetic = [c for c in det.languages if c not in CJK_CODES]
    if cjk_lang and (ev.cjk_units >= ev.alphabetic_words or not alphabetic):
        return LanguageGuess(cjk_lang, round(ev.cjk_units / total * size, 3))
    scores = latin_scores(det, _sample(CJK_RUN.sub(" ", prose)), alphabetic)
    if not scores:
        return LanguageGuess("und", 0.0)
    lang = max(scores, key=scores.__getitem__)
    return LanguageGuess(lang, round(ev.alphabetic_words / total * scores[lang] * size, 3))


def chunk_language(
    prose_of_chunk: str, doc_lang: str, *, detector: LanguageDetector | None = None
) -> str:
    """The language of one chunk: its document's, unless its own prose clearly is another.

    ``prose_of_chunk`` is the chunk's prose (its prose blocks, or its whole text: what is
    not prose is dropped here). It differs from ``doc_lang`` only with enough prose of
    another language: at least MIN_OTHER_WORDS alphabetic words or MIN_OTHER_CJK_CHARS CJK
    characters, OTHER_MARGIN times the document language's own prose in the chunk, and for
    alphabetic languages a share of at least MIN_OTHER_CONFIDENCE of lingua + function words,
    with MIN_OTHER_FUNCTION_WORDS of its function words and OTHER_MARGIN times the document
    language's. A chunk without prose (code, a table of values) carries ``doc_lang``.
    Without a document language the chunk's own best guess is taken ("und" if none).
    """
    det = detector or default_detector()
    prose = prose_text(prose_of_chunk)
    doc = (doc_lang or "").strip().lower()
    if doc in ("", "und"):
        return document_language([prose], detector=det).lang
    return _other_language(evidence(prose), doc, det) or doc


def _other_language(ev: Evidence, doc: str, det: LanguageDetector) -> str:
    """The language other than ``doc`` that the prose clearly is, or ''."""
    p = ev.profile
    cjk_lang = cjk_language(p, det.languages)
    if doc in CJK_CODES:
        if cjk_lang and cjk_lang != doc and p.cjk >= MIN_OTHER_CJK_CHARS:
            return cjk_lang  # kana in a Chinese document's chunk: a Japanese passage
        own = ev.cjk_units
        if ev.alphabetic_words < max(MIN_OTHER_WORDS, OTHER_MARGIN * own):
            return ""
        return _clear_alphabetic(ev, doc, det)
    if cjk_lang and p.cjk >= MIN_OTHER_CJK_CHARS:
        return cjk_lang if ev.cjk_units >= OTHER_MARGIN * ev.alphabetic_words else ""
    if ev.alphabetic_words < MIN_OTHER_WORDS or ev.cjk_units * OTHER_MARGIN > ev.alphabetic_words:
        return ""
    return _clear_alphabetic(ev, doc, det)


def _clear_alphabetic(ev: Evidence, doc: str, det: LanguageDetector) -> str:
    langs = [c for c in det.languages if c not in CJK_CODES]
    scores = latin_scores(det, ev.prose, langs)
    if not scores:
        return ""
    lang = max(scores, key=scores.__getitem__)
    if lang == doc or scores[lang] < MIN_OTHER_CONFIDENCE:
        return ""
    if lang in FUNCTION_WORDS:  # sentences, not a run of borrowed terms
        fw = function_word_counts(CJK_RUN.sub(" ", ev.prose), langs)
        if fw[lang] < max(MIN_OTHER_FUNCTION_WORDS, OTHER_MARGIN * fw.get(doc, 0)):
            return ""
    return lang

"""The language detector: script ratios first, lingua for Latin script.

Han/Kana/Hangul are decided by counting characters (:mod:`reportrag.langid.scripts`). Only
text whose letters are mostly Latin or Cyrillic goes to lingua, restricted to a small set of
languages so that it is both faster and less likely to guess something exotic. One lingua
model per language set is built for the whole process.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

from reportrag.langid.scripts import CJK_CODES, CJK_RUN, cjk_language, script_profile

if TYPE_CHECKING:  # lingua's import is cheap, but keep the type-only use explicit
    import lingua

DEFAULT_LANGUAGES: tuple[str, ...] = (
    "en",
    "zh",
    "de",
    "fr",
    "es",
    "ja",
    "ko",
    "ru",
    "it",
    "pt",
    "nl",
)

# lingua's verdict on Latin text is used only when it is this sure; otherwise the caller's default
_MIN_CONFIDENCE = 0.5
# below this many Latin letters a lingua guess is noise ("v2", "AI", "LLM")
_MIN_LATIN_LETTERS = 3
# lingua cost grows with length; the first few thousand characters decide a chunk's language
MAX_LINGUA_CHARS = 4000

_IDENTIFIER = re.compile(r"\S*\d\S*")


@lru_cache(maxsize=4)
def _lingua_detector(codes: tuple[str, ...]) -> lingua.LanguageDetector:
    # One lingua detector per language set for the whole process: building and loading its
    # models takes seconds, and LanguageDetector() is constructed freely by callers.
    # Models load on first need (same results: lingua loads what it would have preloaded),
    # so a process holds only those its texts use; warm_up() loads what queries need
    # (docs/benchmarks.md#memory).
    from lingua import IsoCode639_1, LanguageDetectorBuilder

    isos = [getattr(IsoCode639_1, c.upper()) for c in codes]
    return LanguageDetectorBuilder.from_iso_codes_639_1(*isos).build()


# One sentence per alphabet lingua decides between: detecting them loads every model a query
# can need (all n-gram lengths of the languages of that alphabet; longer text uses a subset).
_WARM_UP_TEXTS = (
    "How many developers use open source software in their companies?",
    "Сколько разработчиков используют открытый код в своих компаниях?",
)


class LanguageDetector:
    """Detects the language of chunks and queries as ISO 639-1 codes."""

    def __init__(self, languages: Sequence[str] = DEFAULT_LANGUAGES) -> None:
        codes = tuple(dict.fromkeys(c.strip().lower() for c in languages))
        from lingua import IsoCode639_1

        unknown = [c for c in codes if not hasattr(IsoCode639_1, c.upper()) or len(c) != 2]
        if unknown or not codes:
            raise ValueError(f"unsupported language codes: {unknown or 'none given'}")
        self.languages = codes
        # lingua needs at least two candidates; with fewer, Latin text takes the only one
        self.lingua_codes = tuple(sorted(c for c in codes if c not in CJK_CODES))
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Build lingua and load the models queries use now instead of on first detection."""
        detector = self.lingua_detector()
        if detector is not None:
            for text in _WARM_UP_TEXTS:
                detector.compute_language_confidence_values(text)
            from reportrag.heap import release_free_heap

            release_free_heap()  # what parsing the models freed

    def lingua_detector(self) -> lingua.LanguageDetector | None:
        """lingua over this detector's alphabetic languages (None: fewer than two of them)."""
        if len(self.lingua_codes) < 2:
            return None
        with self._lock:  # lru_cache may otherwise build twice under concurrent first use
            return _lingua_detector(self.lingua_codes)

    def detect(self, text: str, default: str = "und") -> str:
        """The ISO 639-1 code of ``text``'s main language, or ``default`` when unsure."""
        p = script_profile(text)
        if p.cjk + p.latin + p.cyrillic + p.other == 0:
            return default
        # A Han character carries about a word's worth of meaning, so compare CJK characters
        # with Latin/Cyrillic *words*: 15 hanzi beat the 3 words in "ChatYuan-large-v2".
        foreign_words = p.latin_words + (p.cyrillic + p.other) / 5
        if p.cjk and p.cjk >= foreign_words:
            return cjk_language(p, self.languages) or default
        if p.other > p.latin + p.cyrillic:
            return default  # Greek, Arabic, Hebrew...: not in our set, better unknown than wrong
        if p.latin + p.cyrillic < _MIN_LATIN_LETTERS:
            return default
        return self._lingua_language(text, default)

    def detect_query(
        self, text: str, default: str = "und", candidates: Sequence[str] | None = None
    ) -> str:
        """Language of a (short) search query among ``candidates``; see :mod:`.query`."""
        from reportrag.langid.query import detect_query

        return detect_query(text, candidates, default=default, detector=self)

    def _lingua_language(self, text: str, default: str) -> str:
        candidates = self.lingua_codes
        if len(candidates) < 2:
            return candidates[0] if candidates else default
        # Han would only confuse a detector that may not pick Chinese, and identifiers with
        # digits ("Baichuan2-13B-Chat", "v1.2") carry no language at all
        words = _IDENTIFIER.sub(" ", CJK_RUN.sub(" ", text[:MAX_LINGUA_CHARS]))
        if sum(ch.isalpha() for ch in words) < _MIN_LATIN_LETTERS:
            return default
        detector = self.lingua_detector()
        assert detector is not None
        values = detector.compute_language_confidence_values(words)
        if not values:
            return default
        top = values[0].value
        second = values[1].value if len(values) > 1 else 0.0
        # lingua's values are relative: short text spreads them, so ask for a clear winner
        if top < _MIN_CONFIDENCE and (top < 0.25 or top < 1.5 * second):
            return default
        return values[0].language.iso_code_639_1.name.lower()


@lru_cache(maxsize=1)
def default_detector() -> LanguageDetector:
    """The process-wide detector over DEFAULT_LANGUAGES."""
    return LanguageDetector()

"""Language identification for chunks and queries: script ratios first, lingua for Latin script.

Han/Kana/Hangul are decided by counting characters, which is exact and fast and copes with
mixed text (a Chinese table row full of Latin model names, an English paragraph quoting one
Chinese name). Only text whose letters are mostly Latin or Cyrillic goes to lingua, restricted
to a small set of languages so that it is both faster and less likely to guess something exotic.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

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
_CJK_CODES = frozenset({"zh", "ja", "ko"})

# lingua's verdict on Latin text is used only when it is this sure; otherwise the caller's default
_MIN_CONFIDENCE = 0.5
# below this many Latin letters a lingua guess is noise ("v2", "AI", "LLM")
_MIN_LATIN_LETTERS = 3
# lingua cost grows with length; the first few thousand characters decide a chunk's language
_MAX_LINGUA_CHARS = 4000

_IDENTIFIER = re.compile(r"\S*\d\S*")
_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f\u1e00-\u1eff]{2,}")
_CJK_CHARS = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\U00020000-\U0002ffff]+"
)


@dataclass(frozen=True)
class ScriptProfile:
    """Letter counts per script family in a piece of text."""

    han: int = 0
    kana: int = 0
    hangul: int = 0
    latin: int = 0
    cyrillic: int = 0
    other: int = 0
    latin_words: int = 0

    @property
    def cjk(self) -> int:
        """Han + Kana + Hangul characters."""
        return self.han + self.kana + self.hangul


def _is_han(o: int) -> bool:
    return (
        0x4E00 <= o <= 0x9FFF
        or 0x3400 <= o <= 0x4DBF
        or 0xF900 <= o <= 0xFAFF
        or (0x20000 <= o <= 0x2FFFF)
    )


def _is_hangul(o: int) -> bool:
    return 0xAC00 <= o <= 0xD7AF or 0x1100 <= o <= 0x11FF or 0x3130 <= o <= 0x318F


def is_cjk_char(ch: str) -> bool:
    """True for a Han, Kana or Hangul character."""
    o = ord(ch)
    return _is_han(o) or 0x3040 <= o <= 0x30FF or _is_hangul(o)


def is_latin_letter(ch: str) -> bool:
    """True for a letter of the Latin script (ASCII and the Latin extension blocks)."""
    o = ord(ch)
    return ch.isalpha() and (o < 0x250 or 0x1E00 <= o <= 0x1EFF)


def script_profile(text: str) -> ScriptProfile:
    """Count the letters of each script family in ``text``."""
    han = kana = hangul = latin = cyrillic = other = 0
    for ch in text:
        if ch.isascii():
            latin += ch.isalpha()
            continue
        o = ord(ch)
        if _is_han(o):
            han += 1
        elif 0x3040 <= o <= 0x30FF:
            kana += 1
        elif _is_hangul(o):
            hangul += 1
        elif not ch.isalpha():
            continue
        elif o < 0x250 or 0x1E00 <= o <= 0x1EFF:
            latin += 1
        elif 0x400 <= o <= 0x52F:
            cyrillic += 1
        else:
            other += 1
    words = len(_LATIN_WORD.findall(text)) if latin else 0
    return ScriptProfile(han, kana, hangul, latin, cyrillic, other, words)


@lru_cache(maxsize=4)
def _lingua_detector(codes: tuple[str, ...]) -> lingua.LanguageDetector:
    # One lingua detector per language set for the whole process: building and loading its
    # models takes seconds, and LanguageDetector() is constructed freely by callers.
    from lingua import IsoCode639_1, LanguageDetectorBuilder

    isos = [getattr(IsoCode639_1, c.upper()) for c in codes]
    builder = LanguageDetectorBuilder.from_iso_codes_639_1(*isos)
    return builder.with_preloaded_language_models().build()


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
        self._lingua_codes = tuple(sorted(c for c in codes if c not in _CJK_CODES))
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Build lingua and load its models now instead of on the first detection."""
        self._lingua()

    def _lingua(self) -> lingua.LanguageDetector | None:
        if len(self._lingua_codes) < 2:
            return None
        with self._lock:  # lru_cache may otherwise build twice under concurrent first use
            return _lingua_detector(self._lingua_codes)

    def detect(self, text: str, default: str = "und") -> str:
        """The ISO 639-1 code of ``text``'s main language, or ``default`` when unsure."""
        p = script_profile(text)
        if p.cjk + p.latin + p.cyrillic + p.other == 0:
            return default
        # A Han character carries about a word's worth of meaning, so compare CJK characters
        # with Latin/Cyrillic *words*: 15 hanzi beat the 3 words in "ChatYuan-large-v2".
        foreign_words = p.latin_words + (p.cyrillic + p.other) / 5
        if p.cjk and p.cjk >= foreign_words:
            return self._cjk_language(p, default)
        if p.other > p.latin + p.cyrillic:
            return default  # Greek, Arabic, Hebrew...: not in our set, better unknown than wrong
        if p.latin + p.cyrillic < _MIN_LATIN_LETTERS:
            return default
        return self._lingua_language(text, default)

    def detect_query(self, text: str, default: str = "und") -> str:
        """Language of a (short) search query; same rules, ``default`` when ambiguous."""
        return self.detect(" ".join(text.split()), default)

    def _cjk_language(self, p: ScriptProfile, default: str) -> str:
        # Kana only occurs in Japanese; a couple of them next to kanji settles it.
        if p.kana >= max(2, (p.han + p.kana) // 10) and "ja" in self.languages:
            return "ja"
        if p.hangul > p.han + p.kana and "ko" in self.languages:
            return "ko"
        if p.han and "zh" in self.languages:
            return "zh"
        return default

    def _lingua_language(self, text: str, default: str) -> str:
        candidates = self._lingua_codes
        if len(candidates) < 2:
            return candidates[0] if candidates else default
        # Han would only confuse a detector that may not pick Chinese, and identifiers with
        # digits ("Baichuan2-13B-Chat", "v1.2") carry no language at all
        words = _IDENTIFIER.sub(" ", _CJK_CHARS.sub(" ", text[:_MAX_LINGUA_CHARS]))
        if sum(ch.isalpha() for ch in words) < _MIN_LATIN_LETTERS:
            return default
        detector = self._lingua()
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

"""Scripts: how many letters of each script family a text holds, and what that says.

Han/Kana/Hangul are decided by counting characters, which is exact and fast and copes with
mixed text (a Chinese table row full of Latin model names, an English paragraph quoting one
Chinese name).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

CJK_CODES = frozenset({"zh", "ja", "ko"})

_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f\u1e00-\u1eff]{2,}")
# a run of CJK characters: what lingua is not shown (it may not be able to pick Chinese)
CJK_RUN = re.compile(
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


def cjk_language(p: ScriptProfile, langs: Sequence[str]) -> str:
    """The CJK language of the CJK characters in ``p`` among ``langs`` ('' if none fits).

    Kana only occurs in Japanese; a couple of them next to kanji settles it."""
    if p.kana >= max(2, (p.han + p.kana) // 10) and "ja" in langs:
        return "ja"
    if p.hangul > p.han + p.kana and "ko" in langs:
        return "ko"
    if p.han and "zh" in langs:
        return "zh"
    return ""

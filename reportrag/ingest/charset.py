"""Which legacy encoding a file that is not UTF-8 is probably in: the hint of the error message.

A hint names an encoding only when the bytes decode in it without error AND the text they
decode to looks like the script that encoding is for. Decoding alone proves little: GB18030
takes almost any byte pair, so Latin-1 German ("Bär" = ``42 E4 72``) decodes to Chinese-
looking text ("B鋜"). What tells them apart is where the characters sit. Chinese text comes
in runs of Han characters; a Latin-1 file misread as GBK gives single Han characters wedged
into Latin words, each one an accented letter swallowed together with the next ASCII letter.
"""

from __future__ import annotations

from collections.abc import Callable

from reportrag.langid import is_cjk_char, is_latin_letter

# Punctuation and symbols that Windows-1252 text uses besides letters (quotes, dashes, …).
_CP1252_SYMBOLS = set("\u00a0¡¢£¤¥¦§¨©ª«¬\u00ad®¯°±²³´µ¶·¸¹º»¼½¾¿×÷‚ƒ„…†‡ˆ‰‹Œ‘’“”•–—˜™›œŸ€")
# At most this share of a text's Han/Kana characters may touch an ASCII letter: in Chinese
# or Japanese that happens only where a run meets a Latin word ("GPU集群"); in a misread
# Latin-1 file it happens to nearly every one.
_MAX_GLUED = 0.3


def guess_encoding(data: bytes) -> str:
    """A label for the encoding ``data`` plausibly is in (``GBK``, ``Big5``, ``Shift-JIS``,
    ``Latin-1/Windows-1252``), or ``""`` when no guess would be honest."""
    if _damaged_utf8(data):
        return ""  # UTF-8 with a few bad bytes: another encoding would be the wrong hint
    # Shift-JIS first: Japanese bytes also decode as GB18030 (to Han characters), but
    # Chinese bytes read as Shift-JIS have no kana.
    candidates: list[tuple[str, str, Callable[[str], bool]]] = [
        ("shift_jis", "Shift-JIS", _looks_japanese),
        ("gb18030", "GBK", _looks_cjk),
        ("big5", "Big5", _looks_cjk),
        ("cp1252", "Latin-1/Windows-1252", _looks_latin),
    ]
    for codec, label, looks_right in candidates:
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        if looks_right(text):
            return label
    return ""


def _damaged_utf8(data: bytes) -> bool:
    """Mostly valid UTF-8: at most one bad spot per 100 non-ASCII characters."""
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    good = sum(1 for ch in text if not ch.isascii() and ch != "\ufffd")
    return good > 0 and bad * 100 <= good


def _looks_cjk(text: str) -> bool:
    """Most non-ASCII characters are Han/Kana/Hangul, and they are not wedged into words."""
    non_ascii = sum(1 for ch in text if not ch.isascii())
    cjk = [i for i, ch in enumerate(text) if is_cjk_char(ch)]
    if not cjk or len(cjk) < 0.7 * non_ascii:
        return False
    glued = sum(1 for i in cjk if _ascii_letter_at(text, i - 1) or _ascii_letter_at(text, i + 1))
    return glued <= _MAX_GLUED * len(cjk)


def _looks_japanese(text: str) -> bool:
    """CJK text (as :func:`_looks_cjk`) in which kana are common, as in any Japanese prose."""
    kana = sum(1 for ch in text if 0x3040 <= ord(ch) <= 0x30FF)
    cjk = sum(1 for ch in text if is_cjk_char(ch))
    return _looks_cjk(text) and kana >= 0.2 * cjk


def _looks_latin(text: str) -> bool:
    """Non-ASCII characters are Latin letters (inside words) or Windows-1252 punctuation.

    Text in another script misread as Windows-1252 gives long runs of accented letters and
    symbols ("ÖÐÎÄ"); European text has one, at most two, accented letters in a row.
    """
    non_ascii = [i for i, ch in enumerate(text) if not ch.isascii()]
    if not non_ascii:
        return False
    if not all(is_latin_letter(text[i]) or text[i] in _CP1252_SYMBOLS for i in non_ascii):
        return False
    in_long_runs = sum(
        1 for i in non_ascii if all(not text[j].isascii() for j in range(i - 1, i + 2)
                                    if 0 <= j < len(text))
    )
    return in_long_runs <= 0.2 * len(non_ascii)


def _ascii_letter_at(text: str, i: int) -> bool:
    return 0 <= i < len(text) and text[i].isascii() and text[i].isalpha()

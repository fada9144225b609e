"""Language identification for chunks and queries: script ratios first, lingua for Latin script.

Han/Kana/Hangul are decided by counting characters, which is exact and fast and copes with
mixed text (a Chinese table row full of Latin model names, an English paragraph quoting one
Chinese name). Only text whose letters are mostly Latin or Cyrillic goes to lingua, restricted
to a small set of languages so that it is both faster and less likely to guess something exotic.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, NamedTuple

from reportrag.prose import CJK_CHARS_PER_WORD, prose_text

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
    # Models load on first need (same results: lingua loads what it would have preloaded),
    # so a process holds only those its texts use: 191 instead of 244 MB once warm for
    # queries (bench/serve_memory.py). warm_up() loads what queries need.
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
        self._lingua_codes = tuple(sorted(c for c in codes if c not in _CJK_CODES))
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Build lingua and load the models queries use now instead of on first detection."""
        detector = self._lingua()
        if detector is not None:
            for text in _WARM_UP_TEXTS:
                detector.compute_language_confidence_values(text)
            from reportrag.heap import release_free_heap

            release_free_heap()  # what parsing the models freed (~30 MB)

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

    def detect_query(
        self, text: str, default: str = "und", candidates: Sequence[str] | None = None
    ) -> str:
        """Language of a (short) search query among ``candidates``; see :func:`detect_query`."""
        return detect_query(text, candidates, default=default, detector=self)

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


# --- document, chunk and query language -------------------------------------------------------
#
# A chunk's own text is a poor witness of its language: code, commands, identifiers and URLs
# outvote a Chinese sentence, and a short English-looking heading says nothing. So a document's
# language is decided once, from all its prose, and each chunk carries it unless its own prose
# is clearly, and at length, in another language. Queries are short and mix scripts ("APISIX
# 如何配置 mTLS？"): their language is that of their grammar (Chinese characters, function
# words), not of the product names in them.


class LanguageGuess(NamedTuple):
    """A language code and how sure the guess is (0..1)."""

    lang: str
    confidence: float


# Frequent function words: the grammar of a sentence, which borrowed technical terms do not
# change. A word of several candidate languages counts for each by a fraction.
FUNCTION_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        "the a an and or but of to in on at by for with from as is are was were be been being "
        "this that these those it its not no if then than can could should would will do does "
        "did have has had you your we our they their he she i my how what which who when where "
        "why there here into about also only all any each more most some such so after before "
        "between through while because whether".split()
    ),
    "de": frozenset(
        "der die das den dem des ein eine einen einem einer eines und oder aber nicht kein "
        "keine ist sind war waren wird werden wurde hat haben sein mit von zu zum zur für auf "
        "aus bei nach über unter vor durch gegen ohne um im am ins beim vom auch noch nur schon "
        "sehr wie wenn dass ob weil als sich es sie wir ich du ihr ihre ihren ihrem man dieser "
        "diese dieses diesen welche welcher welches was wo warum kann können muss müssen soll "
        "sollte gibt".split()
    ),
    "fr": frozenset(
        "le la les un une des du de et ou mais est sont était être avec pour par sur dans en au "
        "aux ce cette ces qui que quoi dont où ne pas plus il elle ils elles nous vous je son sa "
        "ses leur leurs se comme si aussi très peut tout".split()
    ),
    "es": frozenset(
        "el la los las un una unos unas y o pero de del al en con por para sin sobre entre es "
        "son era ser está están que qué cómo cuando donde dónde como se su sus lo le les no más "
        "muy también este esta estos estas ese esa hay puede".split()
    ),
    "it": frozenset(
        "il lo la i gli le un uno una e ed o ma di del della dei delle da dal in nel nella con "
        "su per tra fra è sono era essere che chi come quando dove perché non più anche questo "
        "questa questi quello si ci suo sua loro".split()
    ),
    "pt": frozenset(
        "o a os as um uma uns umas e ou mas de do da dos das em no na nos nas com por para sem "
        "sobre entre é são era ser está estão que quem como quando onde não mais muito também "
        "este esta isso isto esse essa seu sua se ao aos pelo pela".split()
    ),
    "nl": frozenset(
        "de het een en of maar van in op aan met voor door bij naar uit over onder tussen is "
        "zijn was waren wordt worden werd heeft hebben niet geen dat die dit deze wat wie hoe "
        "waar wanneer als ook nog al er je jij u wij we ze zij hij kan kunnen moet zal".split()
    ),
}

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
# With more than one alphabetic candidate, a query's Latin-script language needs this many
# words and a clear winner: this share of the evidence, or a quarter of it and half as much
# again as the runner-up (the rule LanguageDetector.detect applies to lingua alone)
MIN_QUERY_CONFIDENCE = 0.5
MIN_QUERY_WORDS = 2
# ...and, against every known language, at least this fraction of the best one's share
_MIN_PLAUSIBLE = 0.5
# below this much prose (in words) a document's detected language is a weak guess
_FULL_CONFIDENCE_WORDS = 50
_DOC_SAMPLE_CHARS = 8000

_WORD_TOKEN = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")


@dataclass(frozen=True)
class _Evidence:
    """What a piece of prose says about its language, in comparable units (about words)."""

    profile: ScriptProfile
    prose: str

    @property
    def cjk_units(self) -> float:
        return self.profile.cjk / CJK_CHARS_PER_WORD

    @property
    def alphabetic_words(self) -> int:
        # Latin words, plus Cyrillic and other alphabets at about five letters a word
        return self.profile.latin_words + (self.profile.cyrillic + self.profile.other) // 5


def _evidence(prose: str) -> _Evidence:
    return _Evidence(script_profile(prose), prose)


def _function_word_counts(text: str, langs: Sequence[str]) -> dict[str, float]:
    """Function words of each of ``langs`` in ``text``; a word that several of them share
    ("in", "die", "de") counts for each by a fraction."""
    owners = _owners(tuple(sorted(set(langs) & FUNCTION_WORDS.keys())))
    counts = dict.fromkeys(langs, 0.0)
    for word in _WORD_TOKEN.findall(text.lower()):
        for lang, share in owners.get(word, ()):
            counts[lang] += share
    return counts


@lru_cache(maxsize=32)
def _owners(langs: tuple[str, ...]) -> dict[str, tuple[tuple[str, float], ...]]:
    """word -> the languages among ``langs`` it is a function word of, each with 1/their number."""
    by_word: dict[str, list[str]] = {}
    for lang in langs:
        for word in FUNCTION_WORDS[lang]:
            by_word.setdefault(word, []).append(lang)
    return {w: tuple((c, 1 / len(ls)) for c in ls) for w, ls in by_word.items()}


def _cjk_candidate(p: ScriptProfile, langs: Sequence[str]) -> str:
    """The CJK language of the CJK characters in ``p`` among ``langs`` ('' if none fits)."""
    if p.kana >= max(2, (p.han + p.kana) // 10) and "ja" in langs:
        return "ja"
    if p.hangul > p.han + p.kana and "ko" in langs:
        return "ko"
    if p.han and "zh" in langs:
        return "zh"
    return ""


def _known(det: LanguageDetector, langs: Sequence[str] | None) -> list[str]:
    if langs is None:
        return list(det.languages)
    wanted = {c.strip().lower() for c in langs}
    return [c for c in det.languages if c in wanted]  # "und", "" and unknown codes drop out


def _lingua_values(det: LanguageDetector, text: str) -> dict[str, float]:
    """lingua's relative confidence for each of the detector's alphabetic languages."""
    detector = det._lingua()
    if detector is None:
        return {}
    words = _CJK_CHARS.sub(" ", text)[:_MAX_LINGUA_CHARS]
    return {
        v.language.iso_code_639_1.name.lower(): v.value
        for v in detector.compute_language_confidence_values(words)
    }


def _latin_scores(
    det: LanguageDetector,
    text: str,
    langs: Sequence[str],
    values: dict[str, float] | None = None,
) -> dict[str, float]:
    """How likely each of ``langs`` (alphabetic ones) is for ``text``: lingua's confidence
    (``values`` if already computed), weighted by the function words of each language found
    in it; sums to 1."""
    langs = [c for c in langs if c not in _CJK_CODES]
    if len(langs) <= 1:
        return dict.fromkeys(langs, 1.0)
    if values is None:
        values = _lingua_values(det, text)
    base = {c: values.get(c, 0.0) for c in langs}
    total = sum(base.values())
    base = {c: v / total for c, v in base.items()} if total > 0 else dict.fromkeys(langs, 1.0)
    # smoothed: without function words lingua decides alone; each one found pulls its language
    fw = _function_word_counts(_CJK_CHARS.sub(" ", text)[:_MAX_LINGUA_CHARS], langs)
    combined = {c: base[c] * (fw[c] + 0.5) for c in langs}
    total = sum(combined.values()) or 1.0
    return {c: v / total for c, v in combined.items()}


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
    ev = _evidence(prose)
    total = ev.cjk_units + ev.alphabetic_words
    if total == 0:
        return LanguageGuess("und", 0.0)
    size = min(1.0, total / _FULL_CONFIDENCE_WORDS)
    cjk_lang = _cjk_candidate(ev.profile, det.languages)
    alphabetic = [c for c in det.languages if c not in _CJK_CODES]
    if cjk_lang and (ev.cjk_units >= ev.alphabetic_words or not alphabetic):
        return LanguageGuess(cjk_lang, round(ev.cjk_units / total * size, 3))
    scores = _latin_scores(det, _sample(_CJK_CHARS.sub(" ", prose)), alphabetic)
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
    return _other_language(_evidence(prose), doc, det) or doc


def _other_language(ev: _Evidence, doc: str, det: LanguageDetector) -> str:
    """The language other than ``doc`` that the prose clearly is, or ''."""
    p = ev.profile
    cjk_lang = _cjk_candidate(p, det.languages)
    if doc in _CJK_CODES:
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


def _clear_alphabetic(ev: _Evidence, doc: str, det: LanguageDetector) -> str:
    langs = [c for c in det.languages if c not in _CJK_CODES]
    scores = _latin_scores(det, ev.prose, langs)
    if not scores:
        return ""
    lang = max(scores, key=scores.__getitem__)
    if lang == doc or scores[lang] < MIN_OTHER_CONFIDENCE:
        return ""
    if lang in FUNCTION_WORDS:  # sentences, not a run of borrowed terms
        fw = _function_word_counts(_CJK_CHARS.sub(" ", ev.prose), langs)
        if fw[lang] < max(MIN_OTHER_FUNCTION_WORDS, OTHER_MARGIN * fw.get(doc, 0)):
            return ""
    return lang


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
    langs = _known(det, candidates)
    prose = prose_text(" ".join(text.split()))
    ev = _evidence(prose)
    alphabetic = [c for c in langs if c not in _CJK_CODES]
    everyone = list(dict.fromkeys([*alphabetic, *det._lingua_codes]))
    cjk_lang = _cjk_candidate(ev.profile, langs)
    if cjk_lang:
        skeleton = max(_function_word_counts(prose, everyone).values(), default=0)
        if ev.cjk_units >= skeleton:
            return cjk_lang
    if ev.alphabetic_words == 0 or not alphabetic:
        return default
    values = _lingua_values(det, prose)
    scores = _latin_scores(det, prose, alphabetic, values)
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
        plausible = _latin_scores(det, prose, everyone, values)  # against non-candidates too
        if plausible[best] < _MIN_PLAUSIBLE * max(plausible.values()):
            return default  # clearly a language the collection does not hold
    return best

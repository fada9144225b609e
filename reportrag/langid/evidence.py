"""What a piece of prose says about its language: scripts, lingua, function words.

Frequent function words are the grammar of a sentence, which borrowed technical terms do not
change; lingua's confidence weighted by them tells alphabetic languages apart where lingua
alone is unsure (short text, product names).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from reportrag.langid.detector import MAX_LINGUA_CHARS, LanguageDetector
from reportrag.langid.scripts import CJK_CODES, CJK_RUN, ScriptProfile, script_profile
from reportrag.prose import CJK_CHARS_PER_WORD

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

_WORD_TOKEN = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")


@dataclass(frozen=True)
class Evidence:
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


def evidence(prose: str) -> Evidence:
    return Evidence(script_profile(prose), prose)


def function_word_counts(text: str, langs: Sequence[str]) -> dict[str, float]:
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


def known_languages(det: LanguageDetector, langs: Sequence[str] | None) -> list[str]:
    if langs is None:
        return list(det.languages)
    wanted = {c.strip().lower() for c in langs}
    return [c for c in det.languages if c in wanted]  # "und", "" and unknown codes drop out


def lingua_values(det: LanguageDetector, text: str) -> dict[str, float]:
    """lingua's relative confidence for each of the detector's alphabetic languages."""
    detector = det.lingua_detector()
    if detector is None:
        return {}
    words = CJK_RUN.sub(" ", text)[:MAX_LINGUA_CHARS]
    return {
        v.language.iso_code_639_1.name.lower(): v.value
        for v in detector.compute_language_confidence_values(words)
    }


def latin_scores(
    det: LanguageDetector,
    text: str,
    langs: Sequence[str],
    values: dict[str, float] | None = None,
) -> dict[str, float]:
    """How likely each of ``langs`` (alphabetic ones) is for ``text``: lingua's confidence
    (``values`` if already computed), weighted by the function words of each language found
    in it; sums to 1."""
    langs = [c for c in langs if c not in CJK_CODES]
    if len(langs) <= 1:
        return dict.fromkeys(langs, 1.0)
    if values is None:
        values = lingua_values(det, text)
    base = {c: values.get(c, 0.0) for c in langs}
    total = sum(base.values())
    base = {c: v / total for c, v in base.items()} if total > 0 else dict.fromkeys(langs, 1.0)
    # smoothed: without function words lingua decides alone; each one found pulls its language
    fw = function_word_counts(CJK_RUN.sub(" ", text)[:MAX_LINGUA_CHARS], langs)
    combined = {c: base[c] * (fw[c] + 0.5) for c in langs}
    total = sum(combined.values()) or 1.0
    return {c: v / total for c, v in combined.items()}

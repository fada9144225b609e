"""Language identification for chunks and queries: script ratios first, lingua for Latin script.

Han/Kana/Hangul are decided by counting characters (:mod:`.scripts`). Only text whose letters
are mostly Latin or Cyrillic goes to lingua (:mod:`.detector`), restricted to a small set of
languages so that it is both faster and less likely to guess something exotic, and weighted
by function words (:mod:`.evidence`). A document's language comes from all its prose and each
chunk carries it unless its own prose clearly is another (:mod:`.document`); a query's
language is that of its grammar among the collection's languages (:mod:`.query`).
"""

from reportrag.langid.detector import DEFAULT_LANGUAGES, LanguageDetector, default_detector
from reportrag.langid.document import LanguageGuess, chunk_language, document_language
from reportrag.langid.evidence import FUNCTION_WORDS
from reportrag.langid.query import detect_query
from reportrag.langid.scripts import (
    CJK_CODES,
    ScriptProfile,
    is_cjk_char,
    is_latin_letter,
    script_profile,
)

__all__ = [
    "CJK_CODES",
    "DEFAULT_LANGUAGES",
    "FUNCTION_WORDS",
    "LanguageDetector",
    "LanguageGuess",
    "ScriptProfile",
    "chunk_language",
    "default_detector",
    "detect_query",
    "document_language",
    "is_cjk_char",
    "is_latin_letter",
    "script_profile",
]

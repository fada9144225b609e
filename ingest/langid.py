"""Moved to :mod:`reportrag.langid` (the read path needs it too); kept for old imports."""

from reportrag.langid import LanguageDetector, default_detector, script_profile  # noqa: F401

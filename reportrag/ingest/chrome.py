"""What in a page's markup nobody reads: badges, decorative images, navigation rows, contents.

The rules are shared by the Markdown and HTML parsers and look at general signs (where an
image points, how big it is, what its alt text says, what a row of links is made of), never
at one document's particular badges or menus.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from reportrag.ingest.clean import LANGUAGE_NAMES
from reportrag.langid import is_cjk_char

# Hosts that serve status badges and shields, and paths that name a badge.
_BADGE_HOSTS = re.compile(
    r"(?:^|\.)(?:shields\.io|badgen\.net|badge\.fury\.io|travis-ci\.(?:org|com)|circleci\.com"
    r"|codecov\.io|coveralls\.io|app\.fossa\.(?:io|com)|snyk\.io|codacy\.com|codeclimate\.com"
    r"|sonarcloud\.io|bestpractices\.(?:dev|coreinfrastructure\.org)|securityscorecards\.dev"
    r"|pepy\.tech|badgesize\.io|gitter\.im|hits\.seeyoufarm\.com|komarev\.com|deepwiki\.com"
    r"|star-history\.com|api\.netlify\.com|img\.badgesize\.io|ci\.appveyor\.com"
    r"|dev\.azure\.com|visitor-badge\.[\w.]+|opencollective\.com)$",
    re.I,
)
_BADGE_PATH = re.compile(r"badge|/shields?/|status\.svg", re.I)
# Words of images that decorate (always) and of badges (when the alt text is short).
_DECORATION_WORDS = re.compile(
    r"\b(?:logos?|badges?|icons?|shields?|avatars?|favicon|banner|pixel|spacer)\b", re.I
)
_BADGE_WORDS = re.compile(
    r"\b(?:build|status|coverage|license|version|versions|downloads?|release|pypi|npm|ci"
    r"|stars?|forks?|chat|discord|slack|twitter|follow|sponsors?|donate|passing|failing)\b",
    re.I,
)
_IMAGE_FILE = re.compile(r"(?i)[\w./-]*\.(?:png|jpe?g|gif|svg|webp|bmp|ico|avif)")
_TOC_LABEL = re.compile(
    r"(?i)(?:table of contents|contents|toc|on this page|in this (?:article|page|document)"
    r"|目录|目錄|目次|목차|inhalt|inhaltsverzeichnis|índice|indice|sommaire"
    r"|table des matières|содержание|оглавление)"
)
# What separates the entries of a navigation row: pipes, dots, slashes, arrows, dashes.
_NAV_SEPARATORS = re.compile(r"[|·•/\\>»›<«‹:,;\-–—~*=+()\[\]\n]+")
_LANGUAGES = frozenset(name.casefold() for name in LANGUAGE_NAMES)
_LETTER_OR_DIGIT = re.compile(r"[^\W_]")


def is_badge_image(src: str, alt: str = "", width: str = "", height: str = "") -> bool:
    """An image that is a status badge, shield, icon or tracking pixel, not a figure."""
    for size in (width, height):
        digits = re.match(r"\s*(\d+)\s*(?:px)?\s*$", size or "")
        if digits and int(digits.group(1)) <= 32:  # icons, badges and 1×1 tracking pixels
            return True
    parts = urlsplit(src.strip()) if "://" in src or src.startswith("//") else None
    if parts and _BADGE_HOSTS.search(parts.hostname or ""):
        return True
    path = parts.path if parts else src
    if _BADGE_PATH.search(path) or (parts and "badge" in parts.query.lower()):
        return True
    return path.lower().endswith(".svg") and bool(
        _BADGE_WORDS.search(alt) or _DECORATION_WORDS.search(alt)
    )


def meaningful_alt(alt: str) -> bool:
    """Alt text worth keeping: a description in words, not a file name or a logo's label."""
    alt = " ".join(alt.split())
    if not alt or _IMAGE_FILE.fullmatch(alt) or _DECORATION_WORDS.search(alt):
        return False
    cjk = sum(map(is_cjk_char, alt))
    words = len(re.findall(r"[^\W\d_]{2,}", alt))
    if words <= 4 and cjk < 4 and _BADGE_WORDS.search(alt):
        return False  # "PyPI - Python Version", "Build Status"
    return words >= 3 or cjk >= 4


def is_toc_label(text: str) -> bool:
    """A heading or summary that announces a table of contents."""
    core = re.sub(r"[^\w\s]", " ", text, flags=re.UNICODE)
    return bool(_TOC_LABEL.fullmatch(" ".join(core.split())))


def is_in_page(href: str) -> bool:
    """A link to an anchor of the same page."""
    return href.strip().startswith("#")


def is_decoration(text: str) -> bool:
    """Link text with no letter or digit: a permalink mark (¶, #, §) or an arrow."""
    return not _LETTER_OR_DIGIT.search(text)


class NavStats:
    """What a paragraph is made of, to tell a navigation row from prose."""

    def __init__(self) -> None:
        self.links = 0  # links with text
        self.images = 0
        self.languages = 0  # language names outside links ("English | [中文](…)")
        self.separators = False
        self.label = False  # a short lead-in like "Languages:" before the first link
        self.prose = False  # any other text outside links

    def text(self, text: str) -> None:
        """Account for text that is not inside a link."""
        if self.prose or not text:
            return
        if not (self.links or self.images or self.label) and text.rstrip().endswith(":"):
            if len(text.split()) <= 4:
                self.label = True
                return
        if len(text) > 400 and text.strip():
            self.prose = True  # far longer than any row of names and separators
            return
        parts = [p.strip() for p in _NAV_SEPARATORS.split(text)]
        if len(parts) > 1:
            self.separators = True
        for part in filter(None, parts):
            if part.casefold() in _LANGUAGES:
                self.languages += 1
            elif len(part) < 40 and all(w.casefold() in _LANGUAGES for w in part.split()):
                self.languages += len(part.split())  # names separated by spaces only
            else:
                self.prose = True
                return

    def is_navigation(self) -> bool:
        """Only links, images, language names and separators, at least two of them."""
        items = self.links + self.images + self.languages
        if self.prose or items < (3 if self.label else 2):
            return False
        return self.links + self.images > 0 or self.separators

"""The natural-language prose of a text: the only part that may vote on its language.

Technical documentation mixes prose with things that carry no language of their own, or the
wrong one: code blocks and their English comments, shell commands and their output, paths,
identifiers, URLs, option flags, JSON/YAML, HTML and Markdown markup, templating shortcodes,
numbers. In a Chinese README these outnumber the Chinese words, so a detector that reads
everything calls the chunk English. :func:`prose_text` keeps the words a reader reads as
sentences and drops the rest, line by line and token by token.

The rules are structural (what a line or a token looks like), never lists of product names
or commands, so they hold for any documentation. Hidden text is dropped too: HTML comments
(translated pages often keep the original there) and templating comments are not prose of
the page. Front matter values (``title: …``, ``description: …``) are kept: they are shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A Han character carries about a word's worth of text: parallel EN/ZH passages of the report
# corpus (tests/data/gold_alignment.jsonl) have 1.4 hanzi per English word.
CJK_CHARS_PER_WORD = 1.5

_CJK_RANGES = (
    "\u3040-\u30ff"  # kana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # Han
    "\uac00-\ud7af\u1100-\u11ff\u3130-\u318f"  # Hangul
    "\U00020000-\U0002ffff"
)
_CJK_RUN = re.compile(f"[{_CJK_RANGES}]+")
_CJK_SPLIT = re.compile(f"([{_CJK_RANGES}]+)")

# --- whole-text markup ----------------------------------------------------------------------
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)
# Hugo/Jekyll/Liquid shortcodes and template tags: {{< … >}}, {{% … %}}, {% … %}, {{ … }}
_SHORTCODE = re.compile(r"\{\{[<%].*?[%>]\}\}|\{%.*?%\}|\{\{.*?\}\}", re.S)
_TEMPLATE_COMMENT = re.compile(
    r"\{\{[<%]\s*comment\s*[%>]\}\}.*?\{\{[<%]\s*/comment\s*[%>]\}\}", re.S
)
_FENCE = re.compile(r"^\s*(?:`{3,}|~{3,})\s*([^`\s]*)")

# --- inline markup --------------------------------------------------------------------------
_IMAGE = re.compile(r"!\[[^\]\n]*\]\([^)\n]*\)")
_LINK = re.compile(r"\[([^\]\n]*)\]\([^)\n]*\)")
_INLINE_CODE = re.compile(r"`+[^`\n]*`+")
_URL = re.compile(r"\b(?:[a-zA-Z][a-zA-Z0-9+.-]*://|www\.)\S+")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_HTML_TAG = re.compile(r"</?[A-Za-z][^<>]*>|<[A-Za-z][\w.-]*/?>")
_ENTITY = re.compile(r"&(?:[a-zA-Z]+|#\d+|#x[0-9a-fA-F]+);")
_HEADING_ID = re.compile(r"\{#[^}]*\}")
_ADMONITION = re.compile(r"^:::+\s*[\w-]*")
_REF_DEFINITION = re.compile(r"^\[[^\]]+\]:\s*\S+")
_LIST_MARK = re.compile(r"^(?:[-*+•]|\d{1,3}[.)])\s+")
# `key: value` where the key is written like an identifier (lower case, or with _ - . inside):
# YAML, front matter, properties. "Note: …" and "Ausgabe:" are prose and keep their word.
_YAML_KEY = re.compile(
    r"^(?:-\s+)?([a-z_][A-Za-z0-9_.-]*|[A-Za-z_]+[_.-][A-Za-z0-9_.-]*)\s*:(?:\s+|$)"
)
_JSON_KEY = re.compile(r"""^["'][^"']*["']\s*:""")
_TRAILING_COMMENT = re.compile(r"\s(?:#|//)\s")
_MERGE_MARK = re.compile(r"^(?:<{7}|={7}|>{7})")
# "=== Start loading ===", "----- output -----": banners of program output and comments
_BANNER = re.compile(r"^([=*~#_-])\1{2,}.*\1{3}$")
# "(distance: 0.1, id: 2998)": two or more name: number pairs are a record, not a sentence
_NUMERIC_FIELD = re.compile(r"\b[A-Za-z_][\w.-]*\s*[:=]\s*[-+]?\d")

# Lines that only code starts or ends with (prose ends with . ! ? : or nothing)
_CODE_START = ("//", "/*", "*/", "#!", "$ ", "> $", ">>>", "}", ")", "]", "@@", "--")
_CODE_END = ("{", "(", "[", "\\", "=>", "->", "&&", "||", "*/", "%>")
_CODE_PUNCT = frozenset("()[]{}=\"'")

_STRIP = "\"'“”‘’„‚«»‹›()[]{}<>.,;:!?¡¿…·、，。；：！？（）「」『』【】《》〈〉*_~—–-|"
_WORD = re.compile(r"[^\W\d_](?:[^\W\d_]|['’-](?=[^\W\d_]))*")
# plain quantities: 42, 3.5, 1,024, 12.6k, 90%; versions, times, IPs and dates are code
_NUMBER = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?[kKmMbBxX%]?")
_CODE_CHARS = frozenset("_/\\=<>{}[]@#$%^&*+~|`")


@dataclass(frozen=True)
class _Line:
    """What one line (or table cell) holds: its prose words and how much code surrounds them."""

    words: tuple[str, ...]  # natural-language words and CJK runs, in order
    word_weight: float  # Latin-script words + CJK characters / CJK_CHARS_PER_WORD
    code_weight: float  # identifiers, paths, numbers, acronyms (half each for the last two)
    latin_tokens: int  # tokens of any kind outside CJK runs

    @property
    def is_code(self) -> bool:
        # a line that holds at least as much code as prose is code (or data) with a word or two
        return self.code_weight > 0 and self.code_weight >= self.word_weight


_EMPTY = _Line((), 0.0, 0.0, 0)
_CODE = _Line((), 0.0, 1.0, 0)


def prose_text(text: str) -> str:
    """The prose words of ``text`` (Markdown, HTML or plain), one line per kept line.

    Idempotent: prose that is already clean comes back with its words unchanged.
    """
    lines = _drop_hidden(text).split("\n")
    infos = [_read_line(line) for line in lines]
    fenced = _fenced(lines, infos)
    comments = _hash_comment_lines(lines)
    out: list[str] = []
    for info, in_fence, is_comment in zip(infos, fenced, comments, strict=True):
        if in_fence or is_comment or info.is_code or not info.words:
            continue
        out.append(" ".join(info.words))
    return "\n".join(out)


def has_cjk(text: str) -> bool:
    """True when ``text`` holds a Han, Kana or Hangul character."""
    return _CJK_RUN.search(text) is not None


# --- hidden text and code blocks ------------------------------------------------------------


def _drop_hidden(text: str) -> str:
    """Remove HTML comments and template comments/tags, also where a chunk cuts one in two."""
    text = _TEMPLATE_COMMENT.sub(" ", text)
    text = _HTML_COMMENT.sub(" ", text)
    # a chunk may start inside a comment (its end is there, not its start) or end inside one
    close = text.find("-->")
    if close != -1 and "<!--" not in text[:close]:
        text = text[close + 3 :]
    opened = text.find("<!--")
    if opened != -1:
        text = text[:opened]
    return _SHORTCODE.sub(" ", text)


def _fenced(lines: list[str], infos: list[_Line]) -> list[bool]:
    """Lines inside ``` / ~~~ fences (the fence lines included).

    A chunk may begin inside a code block, so its first bare fence may close a block instead
    of opening one. Both readings are scored by how code-like the lines they put inside are;
    a fence with an info string (```bash) can only open a block (CommonMark), so a reading
    that closes with one is out.
    """
    fences = {i: m.group(1) for i, line in enumerate(lines) if (m := _FENCE.match(line))}
    if not fences:
        return [False] * len(lines)
    first = min(fences)
    if not any(line.strip() for line in lines[:first]):
        return _fence_reading(infos, fences, start_inside=False)[0]  # nothing before: it opens
    readings = [_fence_reading(infos, fences, start_inside=s) for s in (False, True)]
    return max(readings, key=lambda r: r[1])[0]  # on a tie, the chunk starts outside


def _fence_reading(
    infos: list[_Line], fences: dict[int, str], *, start_inside: bool
) -> tuple[list[bool], float]:
    inside = start_inside
    mask = [False] * len(infos)
    score = 0.0
    for i, info in enumerate(infos):
        if i in fences:
            if inside and fences[i]:
                score -= 1e9
            mask[i] = True
            inside = not inside
            continue
        mask[i] = inside
        total = info.word_weight + info.code_weight
        if total:
            # weighted by the line's amount: a reading that puts a long sentence in a code
            # block (or a long command outside one) is wronger than one that misplaces "id: 3"
            codeness = min(1.0, info.code_weight / total)
            score += ((codeness - 0.5) if inside else (0.5 - codeness)) * total
    return mask, score


def _hash_comment_lines(lines: list[str]) -> list[bool]:
    """Shell/YAML/Python comment blocks: runs of lines that start with a single ``#``.

    Markdown never puts two level-1 headings on consecutive lines, and a lone ``#`` is no
    heading at all; a level-1 "heading" that starts in lower case is a comment too.
    """
    single = [bool(re.match(r"^\s*#(?:\s|$)", line)) for line in lines]
    out = [False] * len(lines)
    i = 0
    while i < len(lines):
        if not single[i]:
            i += 1
            continue
        j = i
        while j < len(lines) and single[j]:
            j += 1
        for k in range(i, j):
            body = lines[k].strip()[1:].strip()
            out[k] = j - i >= 2 or not body or body[:1].islower()
        i = j
    return out


def _structural_code(s: str) -> bool:
    """Lines whose shape alone says code: how they start or end, JSON keys, merge markers."""
    if s.startswith(_CODE_START) or s.endswith(_CODE_END) or _MERGE_MARK.match(s):
        return True
    if _BANNER.match(s) or len(_NUMERIC_FIELD.findall(s)) >= 2:
        return True
    if s.endswith(";") and not has_cjk(s):
        # a statement ("return node;", "import X from 'y';"); a list item may end with ";" too,
        # but then it has words and no brackets, quotes or assignments
        return len(s.split()) <= 3 or any(ch in _CODE_PUNCT for ch in s)
    return bool(_JSON_KEY.match(s) or _REF_DEFINITION.match(s))


# --- one line -------------------------------------------------------------------------------


def _read_line(line: str) -> _Line:
    """The prose words of one line outside code blocks, and how much code is around them."""
    s = line.strip()
    if not s:
        return _EMPTY
    if _structural_code(s):
        return _CODE
    s = _strip_block_marks(_inline_clean(s).strip())
    key = _YAML_KEY.match(s)
    if key:
        s = s[key.end() :]
        # `interval: 3600 # rotate interval`: a value with a trailing comment is configuration
        if _TRAILING_COMMENT.search(s):
            return _CODE
    if _is_table_row(s):
        return _table_row(s)
    comment = _TRAILING_COMMENT.search(s)
    if comment and _analyse(s[: comment.start()]).is_code:
        return _CODE  # `make build # compiles everything`
    info = _analyse(s)
    if key:  # the key is an identifier: one value word after it is a name, not a sentence
        info = _Line(info.words, info.word_weight, info.code_weight + 1, info.latin_tokens)
    return info


def _table_row(s: str) -> _Line:
    words: list[str] = []
    word_weight = code_weight = 0.0
    tokens = 0
    for cell in re.split(r"(?<!\\)\|", s):
        info = _analyse(cell)
        tokens += info.latin_tokens
        # a cell with one Latin token is a name, a type or a value ("string", "false"), not prose
        if info.is_code or (info.latin_tokens == 1 and not has_cjk(cell)):
            code_weight += info.code_weight + info.word_weight
            continue
        words.extend(info.words)
        word_weight += info.word_weight
        code_weight += info.code_weight
    if not words:
        return _Line((), 0.0, code_weight, tokens)
    # the kept cells are prose: the row is, however many identifier cells surround them
    return _Line(tuple(words), word_weight + code_weight, code_weight, tokens)


def _inline_clean(line: str) -> str:
    """Remove inline markup that never holds prose; keep link texts and tag contents."""
    line = _IMAGE.sub(" ", line)
    line = _INLINE_CODE.sub(" ", line)
    line = _LINK.sub(r" \1 ", line)
    line = _URL.sub(" ", line)
    line = _EMAIL.sub(" ", line)
    line = _HTML_TAG.sub(" ", line)
    line = _ENTITY.sub(" ", line)
    return _HEADING_ID.sub(" ", line)


def _strip_block_marks(s: str) -> str:
    """Heading hashes, quote marks, list bullets and admonition fences at the start of a line."""
    s = re.sub(r"^#{1,6}\s+", "", s)
    s = re.sub(r"^(?:>\s*)+", "", s)
    s = _ADMONITION.sub("", s)
    return _LIST_MARK.sub("", s.lstrip())


def _is_table_row(s: str) -> bool:
    return s.startswith("|") or s.count("|") >= 2


def _analyse(s: str) -> _Line:
    words: list[str] = []
    word_weight = code_weight = 0.0
    latin_tokens = 0
    for raw in _CJK_SPLIT.sub(r" \1 ", s).split():
        if _CJK_RUN.fullmatch(raw):
            words.append(raw)
            word_weight += len(raw) / CJK_CHARS_PER_WORD
            continue
        kind = _token_kind(raw)
        if kind == "punct":
            continue
        latin_tokens += 1
        if kind == "word":
            words.append(_trim(raw))
            word_weight += 1
        elif kind in ("number", "acronym"):
            code_weight += 0.5
        else:
            code_weight += 1
    return _Line(tuple(words), word_weight, code_weight, latin_tokens)


def _trim(token: str) -> str:
    t = token.strip(_STRIP)
    # *emphasis* and _emphasis_ marks; a lone leading underscore is an identifier's
    return t.strip("*")


def _token_kind(raw: str) -> str:
    """``word``, ``number``, ``acronym``, ``code`` or ``punct`` for one whitespace token."""
    if _NUMBER.fullmatch(raw.strip(_STRIP.replace("-", ""))):
        return "number"  # also -11.0, which is no option flag
    if raw.startswith("-") and len(raw) > 1 and raw[1] != "-" and raw[1].isalnum():
        return "code"  # -f, -Xmx4g
    if raw.startswith("--") and len(raw) > 2:
        return "code"  # --port, --type=LoadBalancer
    t = raw.strip(_STRIP)
    if not t:
        return "punct"
    if _NUMBER.fullmatch(t):
        return "number"
    if any(ch.isdigit() for ch in t) or any(ch in _CODE_CHARS for ch in t) or "::" in t:
        return "code"
    if re.search(r"[^\W\d_]\.[^\W\d_]", t):
        return "code"  # dotted names: config.yaml, com.alibaba.nacos (and "e.g", rarely)
    if re.search(r"[a-z][A-Z]", t):
        return "code"  # camelCase, PascalCase with an inner capital: ConfigProvider, mTLS
    if not _WORD.fullmatch(t):
        return "code"
    if len(t) >= 2 and (t.isupper() or (len(t) >= 3 and t[-1] == "s" and t[:-1].isupper())):
        return "acronym"  # API, HTTPS, URLs: names, the same in every language
    if re.search(r"[A-Z]{2}[a-z]", t):
        return "code"  # CApath, OAuth, JSONPath
    return "word"

"""A lean tokenizer for queries: the same token ids as the model's ``tokenizer.json``.

The ``tokenizers`` library holds the XLM-R unigram model of 250k pieces as a trie of hash
maps: ~280 MB resident for the serving process, which only ever tokenizes short queries. This
module reads the same ``tokenizer.json`` and keeps only a dict from piece to id and an array
of scores (~30 MB), and runs the unigram Viterbi search itself, step for step as the library
does (same scores in float64, same order of candidates, same tie-breaking, consecutive unknown
characters fused into one ``<unk>``). Normalisation is the library's own normaliser object,
built from the file's ``normalizer`` section alone.

It reproduces one pipeline only: special tokens matched on the raw text, the normaliser,
``Metaspace`` (prepended always, no split), a unigram model without byte fallback, and a
``<s> $A </s>`` template. :func:`lean_supported` says whether a file is that pipeline; any
other file is tokenized by the library (``shared_tokenizer``). Passages keep the library's
tokenizer, which is faster on long text.
"""

from __future__ import annotations

import json
import re
import threading
from array import array
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

_METASPACE = "\u2581"
_UNK_PENALTY = 10.0  # the score of an unknown character: the lowest piece's minus this


def lean_supported(config: dict[str, Any]) -> bool:
    """Whether ``config`` (a parsed tokenizer.json) is the pipeline this module reproduces."""
    model = config.get("model") or {}
    pre = config.get("pre_tokenizer") or {}
    post = config.get("post_processor") or {}
    added = config.get("added_tokens") or []
    single = post.get("single") or []
    return (
        model.get("type") == "Unigram"
        and not model.get("byte_fallback")
        and isinstance(model.get("unk_id"), int)
        and pre.get("type") == "Metaspace"
        and pre.get("replacement") == _METASPACE
        and pre.get("prepend_scheme") == "always"
        and pre.get("split") is False
        and post.get("type") == "TemplateProcessing"
        and [next(iter(s)) for s in single] == ["SpecialToken", "Sequence", "SpecialToken"]
        and all(
            t.get("special") and not t.get("normalized") and not t.get("lstrip")
            and not t.get("rstrip") and not t.get("single_word")
            for t in added
        )
        and not config.get("truncation")
        and not config.get("padding")
    )


class QueryTokenizer:
    """Token ids of one text at a time, as ``Tokenizer.from_file(path).encode(text).ids``."""

    def __init__(self, config: dict[str, Any], vocab: Vocab) -> None:
        """``config``: the parsed tokenizer.json (its model's vocab may be left empty);
        ``vocab``: the model's pieces and scores."""
        if not lean_supported(config):
            raise ValueError("this tokenizer.json is not the unigram pipeline QueryTokenizer runs")
        model = config["model"]
        self._ids, self._scores, self._longest = vocab.ids, vocab.scores, vocab.longest
        self._unk = model["unk_id"]
        self._unk_score = vocab.min_score - _UNK_PENALTY
        added = {t["content"]: t["id"] for t in config.get("added_tokens", [])}
        self._added = added
        # leftmost-longest, like the library's matcher of added tokens
        alternatives = sorted(added, key=len, reverse=True)
        self._splitter = (
            re.compile("|".join(re.escape(a) for a in alternatives)) if alternatives else None
        )
        self._normalizer = _normalizer(config.get("normalizer"))
        specials = config["post_processor"]["special_tokens"]
        first, _, last = config["post_processor"]["single"]
        self._head = list(specials[first["SpecialToken"]["id"]]["ids"])
        self._tail = list(specials[last["SpecialToken"]["id"]]["ids"])
        # a query is tokenized twice (its length is checked, then it is encoded): remember
        # the last few (Python's Viterbi takes ~1 ms for a sentence, the library ~0.1 ms)
        self._encode_cached = lru_cache(maxsize=256)(self._encode)

    @classmethod
    def from_file(cls, path: str | Path) -> QueryTokenizer:
        """Read ``path``; ValueError when it is not the pipeline this class runs."""
        config, vocab = read_tokenizer_json(path)
        if vocab is None:
            raise ValueError(f"{path} has no unigram vocabulary")
        return cls(config, vocab)

    def encode_ids(self, text: str) -> list[int]:
        """The token ids of ``text`` with the template's start and end tokens."""
        return list(self._encode_cached(text))

    def _encode(self, text: str) -> tuple[int, ...]:
        ids = list(self._head)
        for part, special in self._split_added(text):
            if special:
                ids.append(self._added[part])
            else:
                ids.extend(self._unigram(self._pre_tokenize(part)))
        ids.extend(self._tail)
        return tuple(ids)

    def _split_added(self, text: str) -> list[tuple[str, bool]]:
        if self._splitter is None:
            return [(text, False)] if text else []
        out: list[tuple[str, bool]] = []
        start = 0
        for m in self._splitter.finditer(text):
            if m.start() > start:
                out.append((text[start : m.start()], False))
            out.append((m.group(), True))
            start = m.end()
        if start < len(text):
            out.append((text[start:], False))
        return out

    def _pre_tokenize(self, part: str) -> str:
        normalized = self._normalizer.normalize_str(part) if self._normalizer else part
        normalized = normalized.replace(" ", _METASPACE)
        if normalized and not normalized.startswith(_METASPACE):
            normalized = _METASPACE + normalized  # prepending to an empty string adds nothing
        return normalized

    def _unigram(self, s: str) -> list[int]:
        """The best segmentation of ``s`` (the library's optimised Viterbi) as ids."""
        n = len(s)
        if n == 0:
            return []
        ids, scores, longest = self._ids, self._scores, self._longest
        best = [0.0] * (n + 1)
        start_of = [-1] * (n + 1)  # -1: no path ends here yet
        piece_of = [0] * (n + 1)
        for i in range(n):
            here = best[i]
            single = False
            for end in range(i + 1, min(n, i + longest.get(s[i], 0)) + 1):
                pid = ids.get(s[i:end])
                if pid is None:
                    continue
                score = scores[pid] + here
                if start_of[end] < 0 or score > best[end]:
                    best[end], start_of[end], piece_of[end] = score, i, pid
                if end == i + 1:
                    single = True
            if not single:
                score = self._unk_score + here
                if start_of[i + 1] < 0 or score > best[i + 1]:
                    best[i + 1], start_of[i + 1], piece_of[i + 1] = score, i, self._unk
        out: list[int] = []
        unknown_from = -1  # the end of a run of unknown characters being fused
        end = n
        while end > 0:
            start, pid = start_of[end], piece_of[end]
            if pid == self._unk:
                if unknown_from < 0:
                    unknown_from = end
            else:
                if unknown_from >= 0:
                    out.append(self._fused(s[end:unknown_from]))
                    unknown_from = -1
                out.append(pid)
            end = start
        if unknown_from >= 0:
            out.append(self._fused(s[0:unknown_from]))
        out.reverse()
        return out

    def _fused(self, run: str) -> int:
        # the library looks the fused string up in the vocabulary like any other token
        return self._ids.get(run, self._unk)


def _normalizer(section: dict[str, Any] | None) -> Any:  # tokenizers.normalizers.Normalizer
    """The library's normaliser for ``section`` alone (none: the text stays as it is)."""
    if not section:
        return None
    from tokenizers import Tokenizer

    tiny = {
        "version": "1.0",
        "normalizer": section,
        "model": {"type": "WordLevel", "vocab": {"<unk>": 0}, "unk_token": "<unk>"},
    }
    return Tokenizer.from_str(json.dumps(tiny)).normalizer


class Vocab:
    """A unigram vocabulary: piece -> id, scores by id, the longest piece per first character."""

    def __init__(self, pairs: Iterable[tuple[str, float]]) -> None:
        self.ids: dict[str, int] = {}
        self.scores = array("d")
        self.longest: dict[str, int] = {}
        for i, (piece, score) in enumerate(pairs):
            self.ids[piece] = i  # a repeated piece maps to its last id, as in the library
            self.scores.append(score)
            if piece and len(piece) > self.longest.get(piece[0], 0):
                self.longest[piece[0]] = len(piece)
        if not self.scores:
            raise ValueError("the unigram model has no pieces")
        self.min_score = min(self.scores)


def read_tokenizer_json(path: str | Path) -> tuple[dict[str, Any], Vocab | None]:
    """The file's settings (the model's vocab left empty) and its unigram vocabulary
    (None when the file has no ``vocab`` list).

    The 250k pieces are read one by one straight from the text: parsing them as JSON lists
    would leave some 50 MB of freed small objects that the interpreter keeps for good.
    """
    text = Path(path).read_text(encoding="utf-8")
    head = _VOCAB_KEY.search(text)
    if head is None:
        return json.loads(text), None
    end = head.end()

    def pairs() -> Iterator[tuple[str, float]]:
        nonlocal end
        while (m := _VOCAB_ENTRY.match(text, end)) is not None:
            piece = m.group(1)
            yield (json.loads(piece) if "\\" in piece else piece[1:-1]), _serde_f64(m.group(2))
            end = m.end()

    vocab = Vocab(pairs())
    close = _VOCAB_END.match(text, end)
    if close is None:
        raise ValueError(f"{path}: unreadable unigram vocabulary near character {end}")
    return json.loads(text[: head.end() - 1] + "[]" + text[close.end() :]), vocab


def _serde_f64(text: str) -> float:
    """``text`` as the library reads it: serde_json's default number parser takes the digits as
    an integer and divides by a power of ten, which is one unit in the last place off the
    correctly rounded value for about a quarter of the scores (Python's ``float()``).
    Same scores, same Viterbi sums, same ties: tests/test_query_tokenizer.py checks every one.
    """
    m = _NUMBER.fullmatch(text)
    if m is None:
        raise ValueError(f"not a JSON number: {text!r}")
    sign, whole, fraction, exp = m.groups()
    significand = int(whole + (fraction or ""))
    if significand > _U64_MAX:
        raise ValueError(f"{text!r} has more digits than the lean reader reproduces")
    exponent = int(exp or 0) - len(fraction or "")
    value = float(significand)
    if exponent >= 0:
        if exponent > 308:
            raise ValueError(f"{text!r} is out of range")
        value *= float(f"1e{exponent}")
    else:
        while -exponent > 308 and value != 0.0:
            value /= 1e308
            exponent += 308
        if -exponent <= 308:
            value /= float(f"1e{-exponent}")
    return -value if sign else value


_NUMBER = re.compile(r"(-?)([0-9]+)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?")
_U64_MAX = 2**64 - 1
_VOCAB_KEY = re.compile(r'"vocab"\s*:\s*\[')
_VOCAB_ENTRY = re.compile(r'\s*,?\s*\[\s*("(?:[^"\\]|\\.)*")\s*,\s*(-?[0-9][0-9.eE+-]*)\s*\]')
_VOCAB_END = re.compile(r"\s*\]")

_SHARED: dict[str, QueryTokenizer | None] = {}
_SHARED_LOCK = threading.Lock()


def shared_query_tokenizer(path: str) -> QueryTokenizer | None:
    """One lean query tokenizer per tokenizer.json in the process; None when the file is not
    the pipeline it reproduces (then the library's tokenizer is the one to use)."""
    with _SHARED_LOCK:
        if path not in _SHARED:
            config, vocab = read_tokenizer_json(path)
            lean = None
            if vocab is not None and lean_supported(config):
                lean = QueryTokenizer(config, vocab)
            _SHARED[path] = lean
        return _SHARED[path]

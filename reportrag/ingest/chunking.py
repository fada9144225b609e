"""Structure-aware chunking: headings become section paths, sections are split by tokens.

Chunks are exact substrings of the cleaned text (never rewritten, never truncated), so each one
maps back to the raw file through ``CleanedText.to_raw_span`` and the document can be rebuilt
from its chunks (see ``reassemble``).
"""

from __future__ import annotations

from collections.abc import Iterable

from reportrag.ingest.clean import CleanedText
from reportrag.ingest.document import ParsedDocument
from reportrag.ingest.headings import Section, cover, find_sections
from reportrag.ingest.outline import ProseIndex, context_line, heading_starts
from reportrag.ingest.splitting import Count, split_spans
from reportrag.langid import LanguageDetector, chunk_language
from reportrag.types import SECTION_SEP, Chunk, DocumentMeta, content_hash, make_chunk_id

# A section holding less than this share of a chunk's room is joined with the sections after
# it (docs/evaluation.md#small-sections): alone it makes a passage of a heading and a line,
# which a question that merely names the topic matches best.
SMALL_SECTION_SHARE = 0.2


def _fold_sections(text: str, sections: list[Section]) -> list[Section]:
    """Fold heading-only sections (and a title-only preamble) into the section after them."""
    out: list[Section] = []
    carry: int | None = None
    for k, sec in enumerate(sections):
        body = text[sec.start : sec.end].strip()
        lines = sum(1 for ln in body.split("\n") if ln.strip())
        tiny = lines <= 1 if sec.path else (lines <= 2 and len(body) <= 200)
        start = sec.start if carry is None else carry
        carry = start if tiny and k + 1 < len(sections) else None
        if carry is None:  # a lone heading is useless as a chunk: it prefixes the next one
            out.append(Section(start, sec.end, sec.path))
    return out


def _common_path(a: str, b: str) -> str | None:
    """The innermost section both paths lie in ('' for two preambles); None when none."""
    if not a and not b:
        return ""
    shared: list[str] = []
    for x, y in zip(a.split(SECTION_SEP), b.split(SECTION_SEP), strict=False):
        if x != y:
            break
        shared.append(x)
    return SECTION_SEP.join(shared) or None


def _join_small_sections(text: str, sections: list[Section], count: Count,
                         room: int) -> list[Section]:
    """Join a small section (under ``SMALL_SECTION_SHARE`` of ``room`` tokens) with the
    sections after it while the run fits ``room`` and they share a section, whose path the
    run takes; a small section that cannot join what follows joins the run before it.
    """
    small = max(1, int(room * SMALL_SECTION_SHARE))
    sizes = [count(text[sec.start:sec.end].strip()) for sec in sections]

    def joinable(a: Section, size_a: int, b: Section, size_b: int) -> str | None:
        path = _common_path(a.path, b.path)
        return path if path is not None and a.end == b.start and size_a + size_b <= room else None

    out: list[tuple[Section, int]] = []
    for k, (sec, size) in enumerate(zip(sections, sizes, strict=True)):
        if out:
            last, last_size = out[-1]
            path = joinable(last, last_size, sec, size)
            nxt = (sections[k + 1], sizes[k + 1]) if k + 1 < len(sections) else None
            stranded = size < small and (nxt is None or joinable(sec, size, *nxt) is None)
            if path is not None and (last_size < small or stranded):
                out[-1] = (Section(last.start, sec.end, path), last_size + size)
                continue
        out.append((sec, size))
    return [sec for sec, _ in out]


def _split_at_pages(sections: list[Section], parsed: ParsedDocument) -> list[Section]:
    """Sections cut where a page begins: no chunk spans two pages, so a citation's page is
    the page of all of its text (a paragraph running over a page break becomes two)."""
    if len(parsed.page_starts) < 2:
        return sections
    cuts = sorted({parsed.cleaned.to_clean_offset(p) for p in parsed.page_starts[1:]})
    out: list[Section] = []
    for sec in sections:
        start = sec.start
        for cut in cuts:
            if start < cut < sec.end:
                out.append(Section(start, cut, sec.path))
                start = cut
        out.append(Section(start, sec.end, sec.path))
    return out


def sections_of(parsed: ParsedDocument) -> list[Section]:
    """The sections of a document: from its heading blocks, or found in plain text."""
    if parsed.blocks:
        return cover(parsed.text, heading_starts(parsed))
    return find_sections(parsed.text)


def chunk_document(
    doc: DocumentMeta,
    parsed: ParsedDocument | CleanedText,
    *,
    count_tokens: Count,
    max_tokens: int,
    overlap_tokens: int,
    detector: LanguageDetector | None = None,
) -> list[Chunk]:
    """Cut a document into linked, language-tagged chunks that fit ``max_tokens``.

    Each chunk carries its document's language (``doc.lang``) as ``doc_lang`` and, as
    ``lang``, the language of its own prose when that is clearly another one. Its
    ``context`` ("title › section") is keyword-indexed with it (BM25 then finds "the license
    of WeKnora" in the chunk that only says "license").
    """
    if isinstance(parsed, CleanedText):
        parsed = ParsedDocument(cleaned=parsed)
    text, cleaned = parsed.text, parsed.cleaned
    sections = _fold_sections(text, _split_at_pages(sections_of(parsed), parsed))
    if len(parsed.page_starts) < 2:  # a page break is a cut that joining must not undo
        sections = _join_small_sections(text, sections, count_tokens,
                                        max_tokens - overlap_tokens)
    spans = split_spans(
        text,
        sections,
        count_tokens=count_tokens,
        max_tokens=max_tokens,
        overlap_tokens=overlap_tokens,
    )
    prose = ProseIndex(parsed)
    doc_lang = doc.lang or "und"
    chunks: list[Chunk] = []
    for ordinal, span in enumerate(spans):
        body = text[span.start : span.end]
        context = context_line(doc.title, span.section)
        digest = content_hash(body)
        raw_start, raw_end = cleaned.to_raw_span(span.start, span.end)
        lang = chunk_language(prose.prose(span.start, span.end), doc_lang, detector=detector)
        chunks.append(
            Chunk(
                chunk_id=make_chunk_id(doc.doc_id, ordinal, digest),
                doc_id=doc.doc_id,
                title=doc.title,
                lang=lang,
                doc_lang=doc_lang,
                context=context,
                kind=doc.kind,
                date=doc.date,
                section=span.section,
                ordinal=ordinal,
                text=body,
                token_count=span.token_count,
                char_start=raw_start,
                char_end=raw_end,
                content_hash=digest,
                page=parsed.page_at(raw_start),
                metadata=dict(doc.metadata),
            )
        )
    for prev, nxt in zip(chunks, chunks[1:], strict=False):
        prev.next_id, nxt.prev_id = nxt.chunk_id, prev.chunk_id
    return chunks


def reassemble(pieces: Iterable[tuple[int, str]]) -> str:
    """Join (cleaned_offset, text) chunks in order, dropping overlaps; gaps are left out."""
    out: list[str] = []
    covered = 0
    for start, piece in sorted(pieces):
        if start + len(piece) > covered:
            out.append(piece[max(0, covered - start) :])
            covered = start + len(piece)
    return "".join(out)

"""Structure-aware chunking with overlap.

A chunk is a verbatim slice `text[start:end]` of its document, so citations and evidence quotes
point at characters the reader can find. Chunks never straddle a heading: each carries the heading
of its section (embedded with it, so a chunk under "Approvals" is found by a question about
approvals). Inside a section, sentences are packed up to `max_chars`, and each chunk repeats the
last sentences of the one before (up to `overlap_chars`) so a statement split across the boundary is
whole in at least one of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_PARAGRAPH = re.compile(r"\S(?:.*?\S)?(?=\n\s*\n|\s*\Z)", re.DOTALL)
_SENTENCE = re.compile(r"\S.*?(?:[.!?](?=\s)|\Z)", re.DOTALL)


@dataclass(frozen=True)
class Chunk:
    text: str
    start: int
    end: int
    heading: str
    position: int


@dataclass(frozen=True)
class _Unit:
    start: int
    end: int
    heading: str


def _units(text: str, max_chars: int) -> list[_Unit]:
    """Sentences (or hard-split pieces of overlong ones), each tagged with its section heading."""
    units: list[_Unit] = []
    heading = ""
    for para in _PARAGRAPH.finditer(text):
        block = para.group(0)
        first_line = block.split("\n", 1)[0]
        match = _HEADING.match(first_line)
        if match:
            heading = match.group(2).strip()
            rest = block[len(first_line) :]
            if not rest.strip():
                continue
            offset = para.start() + len(first_line) + (len(rest) - len(rest.lstrip()))
            block = rest.strip()
        else:
            offset = para.start()
        for sentence in _SENTENCE.finditer(block):
            start, end = offset + sentence.start(), offset + sentence.end()
            while end - start > max_chars:  # no sentence boundary in sight: cut on a space
                cut = text.rfind(" ", start + max_chars // 2, start + max_chars)
                cut = cut if cut > start else start + max_chars
                units.append(_Unit(start, cut, heading))
                start = cut + 1 if text[cut : cut + 1] == " " else cut
            if end > start:
                units.append(_Unit(start, end, heading))
    return units


def chunk_document(text: str, *, max_chars: int = 1200, overlap_chars: int = 150) -> list[Chunk]:
    units = _units(text, max_chars)
    chunks: list[Chunk] = []
    i = 0
    while i < len(units):
        heading = units[i].heading
        j = i + 1
        while (
            j < len(units)
            and units[j].heading == heading
            and units[j].end - units[i].start <= max_chars
        ):
            j += 1
        start, end = units[i].start, units[j - 1].end
        chunks.append(Chunk(text[start:end], start, end, heading, len(chunks)))
        if j >= len(units):
            break
        # Overlap: step back over whole sentences of this section that fit in overlap_chars.
        k = j
        while (
            k - 1 > i
            and units[k - 1].heading == units[j].heading
            and end - units[k - 1].start <= overlap_chars
        ):
            k -= 1
        i = k
    return chunks


def title_from_text(text: str) -> str | None:
    """The first Markdown heading, if the text has one."""
    for line in text.splitlines():
        match = _HEADING.match(line.strip())
        if match:
            return match.group(2).strip()
        if line.strip():
            return None
    return None

"""Verbatim evidence: the sentences of retrieved chunks that best support the query.

Quotes are cut from the chunk text with their character offsets (`chunk.text[start:end]` is the
quote, always) and ranked by the same embeddings as retrieval. Because nothing is generated, they
are evidence a reader can check even when the model that writes the report is a small local one.
"""

from __future__ import annotations

import re

from activities.knowledge.embeddings import TextEmbedder
from aios.models import Quote, SourcePassages

# A sentence runs to a full stop, question or exclamation mark followed by white space, or to the
# end of its block. Hard-wrapped lines continue a sentence; a blank line, a list item, a heading,
# a quote or a table row starts a new block.
_SENTENCE = re.compile(
    r"(?:[^\n]|\n(?!\s*\n|\s*(?:[-*+>#|]|\d{1,3}\.)\s))+?(?:[.!?](?=\s)|(?=\n\s*\n)"
    r"|(?=\n\s*(?:[-*+>#|]|\d{1,3}\.)\s)|\Z)"
)
# (`match` anchors at the position it is given; no `^`, which would mean the string's start.)
_LEADING_MARKUP = re.compile(r"(?:[#>*\-+]+\s+|\d{1,3}\.\s+|\|\s*)+")
MIN_QUOTE_CHARS = 25
MAX_QUOTE_CHARS = 500


def sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of the quotable sentences of `text`: list markers and heading marks
    are left out of the span, fragments too short to say anything are skipped."""
    spans: list[tuple[int, int]] = []
    for match in _SENTENCE.finditer(text):
        start, end = match.start(), match.end()
        while start < end and text[start].isspace():
            start += 1
        markup = _LEADING_MARKUP.match(text, start, end)
        if markup:
            if "#" in markup.group(0):  # a heading names a topic; it is no evidence
                continue
            start = markup.end()
        while end > start and text[end - 1].isspace():
            end -= 1
        if MIN_QUOTE_CHARS <= end - start <= MAX_QUOTE_CHARS:
            spans.append((start, end))
    return spans


async def attach_quotes(
    embedder: TextEmbedder,
    query: str,
    sources: list[SourcePassages],
    *,
    per_source: int = 3,
    chunks_per_source: int = 2,
) -> None:
    """Fill `quotes` of each source with its best `per_source` sentences, best first."""
    candidates: list[
        tuple[int, str, int, int, str]
    ] = []  # (source index, chunk id, start, end, text)
    for i, source in enumerate(sources):
        for chunk in source.chunks[:chunks_per_source]:
            for start, end in sentences(chunk.text):
                candidates.append((i, chunk.chunk_id, start, end, chunk.text[start:end]))
    if not candidates:
        return
    vectors = await embedder.embed([query, *(c[4] for c in candidates)])
    q = vectors[0]
    scored = [
        (sum(a * b for a, b in zip(q, v, strict=True)), c)
        for v, c in zip(vectors[1:], candidates, strict=True)
    ]
    scored.sort(key=lambda pair: -pair[0])
    for score, (i, chunk_id, start, end, text) in scored:
        quotes = sources[i].quotes
        if len(quotes) < per_source and all(q.text != text for q in quotes):
            quotes.append(
                Quote(text=text, chunk_id=chunk_id, start=start, end=end, score=round(score, 4))
            )

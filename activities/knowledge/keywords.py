"""Keyword (BM25) vectors for Qdrant's sparse index.

A chunk becomes a sparse vector of BM25 term weights, `tf·(k1+1) / (tf + k1·(1 - b + b·len/avg))`;
the collection's sparse vector has Qdrant's IDF modifier, so at query time Qdrant multiplies each
matching term by its inverse document frequency, computed over the live collection (deletes and
replacements included). The dot product with a query's term vector is then the BM25 score. Keeping
keywords in Qdrant (rather than a separate in-memory BM25 index) means the tenant filter, deletes,
replacements and persistence are the same as for dense vectors.

Tokens follow the usual BM25 pipeline (as in Lucene and bm25s): lowercase words of two or more
characters, English stopwords removed, Snowball-stemmed.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

import Stemmer

# Lucene's English stopword list (also bm25s's).
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "if",
        "in",
        "into",
        "is",
        "it",
        "no",
        "not",
        "of",
        "on",
        "or",
        "such",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "will",
        "with",
    ]
)
_WORD = re.compile(r"(?u)\b\w\w+\b")


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def tokenize(text: str) -> list[str]:
    words = [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]
    return list(_stemmer().stemWords(words))


@lru_cache(maxsize=65536)
def term_index(term: str) -> int:
    """A stable index for a term (Python's `hash` differs per process): 31 bits of BLAKE2b."""
    return int.from_bytes(hashlib.blake2b(term.encode(), digest_size=4).digest(), "big") >> 1


@dataclass(frozen=True)
class SparseVector:
    indices: list[int]
    values: list[float]


@dataclass(frozen=True)
class Bm25Encoder:
    """k1 and b are BM25's usual parameters; `avg_length` stands in for the corpus's average
    chunk length in tokens (a fixed figure keeps vectors independent of what else is indexed)."""

    k1: float = 1.2
    b: float = 0.75
    avg_length: float = 120.0

    def document(self, text: str) -> SparseVector:
        tokens = tokenize(text)
        counts = Counter(term_index(t) for t in tokens)
        norm = self.k1 * (1 - self.b + self.b * len(tokens) / self.avg_length)
        indices = sorted(counts)
        values = [counts[i] * (self.k1 + 1) / (counts[i] + norm) for i in indices]
        return SparseVector(indices=indices, values=values)

    def query(self, text: str) -> SparseVector:
        indices = sorted({term_index(t) for t in tokenize(text)})
        return SparseVector(indices=indices, values=[1.0] * len(indices))

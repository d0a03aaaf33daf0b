"""An answer step's confidence in [0, 1], from what can be checked without another model call.

Three parts, each in [0, 1], each left out when it cannot be measured:
- grounding (weight 0.6): how far the answer's claims are supported by a source they cite. A
  claim is a sentence of the answer (markup, the notes AIOS adds and sentences of fewer than four
  words left out). It is supported when at least two thirds of its stemmed, stop-word-free words
  appear in one verbatim quote of a document it cites (`context.supported`, the check the
  evidence section flags unsupported key points with), or, for a document that carries no quotes,
  in the document's text. A claim short of that gets partial credit, linear from none at a third
  of its words found (an invented claim shares its topic's words) to full at two thirds, so a
  close paraphrase is not scored like an invention. A claim that cites nothing gets no credit.
  grounding = the mean credit of the claims.
- retrieval (weight 0.2): how well the cited documents matched the question: the mean, over the
  cited documents that carry quotes, of their best quote's similarity to the query (the
  embedding cosine retrieval ranked them by), clamped to [0, 1]. Fused (RRF) passage scores are
  ranks, not similarities, and are not used.
- model (weight 0.2): the model's own, where the provider returns log-probabilities
  (AIOS_CONFIDENCE_LOGPROBS with an OpenAI-compatible provider): the mean probability of its
  answer's tokens, exp(mean log-probability).

score = the weighted mean of the parts measured (weights renormalised over them). An answer with
no documents at all scores 0 (nothing grounds it). docs/quality.md has the calibration.
"""

from __future__ import annotations

import math
import re
from typing import Any

from activities import context
from activities.knowledge.keywords import tokenize
from aios.quality import Confidence

WEIGHTS = {"grounding": 0.6, "retrieval": 0.2, "model": 0.2}
MIN_CLAIM_WORDS = 4
# A sentence ends at . ! ? followed by white space, or at a line break.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_MARKUP = re.compile(r"^\s*(?:[#>*\-+]+\s*|\d{1,3}\.\s+|\|)")
_CITATION = re.compile(r"\[(\d{1,3})\]")


def claims(answer: str) -> list[tuple[str, list[int]]]:
    """The answer's claims: (sentence without its citation marks, the numbers it cites)."""
    found: list[tuple[str, list[int]]] = []
    for raw in _SENTENCE_END.split(answer):
        sentence = _MARKUP.sub("", raw).strip()
        # AIOS's own notes (in italics) and headings are not claims of the model.
        if not sentence or sentence.startswith("_") or raw.lstrip().startswith("#"):
            continue
        cited = [int(n) for n in _CITATION.findall(sentence)]
        text = _CITATION.sub("", sentence).strip()
        if len(text.split()) >= MIN_CLAIM_WORDS:
            found.append((text, cited))
    return found


def _quotes(item: Any) -> list[tuple[str, float]]:
    """(text, similarity to the query) of the verbatim quotes a retrieved document carries."""
    quotes = item.get("quotes") if isinstance(item, dict) else None
    out = []
    for q in quotes or []:
        if isinstance(q, dict) and isinstance(q.get("text"), str):
            score = q.get("score")
            out.append((q["text"], float(score) if isinstance(score, int | float) else 0.0))
    return out


# Below this share of a claim's words found in a quote, it earns no credit: an invented claim
# shares its topic's words ("pumps are painted blue by robots" against a pump manual).
NO_CREDIT_BELOW = 1 / 3


def support(claim: str, candidates: list[str]) -> float:
    """How far the best candidate supports `claim`, in [0, 1]: 1 when it holds two thirds of the
    claim's stemmed, stop-word-free words (`context.supported`), 0 at a third or less, linear in
    between."""
    words = set(tokenize(claim))
    if not words:
        return 1.0
    best = max((len(words & set(tokenize(c))) / len(words) for c in candidates), default=0.0)
    span = context.SUPPORT_THRESHOLD - NO_CREDIT_BELOW
    return min(1.0, max(0.0, (best - NO_CREDIT_BELOW) / span))


def measure(
    answer: str,
    documents: list[context.ContextDocument],
    raw_documents: Any,
    *,
    mean_logprob: float | None = None,
) -> Confidence:
    """The confidence of `answer`, written from `documents` (numbered as the prompt showed them;
    `raw_documents` is the step's `documents` argument, whose retrieved sources carry quotes)."""
    items = raw_documents if isinstance(raw_documents, list) else [raw_documents]
    quotes = [_quotes(item) for item in items] if raw_documents is not None else []
    reasons: list[str] = []
    parts: dict[str, float] = {}
    found = claims(answer)
    supported = 0
    credit = 0.0
    cited_docs: set[int] = set()
    unsupported: list[str] = []
    for text, cited in found:
        valid = [n for n in cited if 1 <= n <= len(documents)]
        cited_docs.update(valid)
        best = 0.0
        for n in valid:
            doc_quotes = [q for q, _ in quotes[n - 1]] if n - 1 < len(quotes) else []
            best = max(best, support(text, doc_quotes or [documents[n - 1].text]))
        credit += best
        supported += best >= 1.0
        if best < 1.0:
            unsupported.append(text)
    if not documents:
        parts["grounding"] = 0.0
        reasons.append("no sources: nothing grounds the answer")
    elif found:
        parts["grounding"] = credit / len(found)
        if unsupported:
            sample = "; ".join(f'"{t[:80]}"' for t in unsupported[:3])
            reasons.append(
                f"{len(unsupported)} of {len(found)} claims not supported by a quote of a "
                f"source they cite: {sample}"
            )
    else:
        parts["grounding"] = 0.0
        reasons.append("the answer makes no claim that could be checked against its sources")
    matches = [
        max(s for _, s in quotes[n - 1])
        for n in sorted(cited_docs or range(1, len(documents) + 1))
        if n - 1 < len(quotes) and quotes[n - 1]
    ]
    if matches:
        parts["retrieval"] = min(1.0, max(0.0, sum(matches) / len(matches)))
        if parts["retrieval"] < 0.3:
            reasons.append(f"the sources match the question weakly ({parts['retrieval']:.2f})")
    if mean_logprob is not None:
        parts["model"] = min(1.0, max(0.0, math.exp(mean_logprob)))
        if parts["model"] < 0.5:
            reasons.append(f"the model was unsure of its words ({parts['model']:.2f})")
    total = sum(WEIGHTS[k] for k in parts)
    score = sum(WEIGHTS[k] * v for k, v in parts.items()) / total if total else 0.0
    return Confidence(
        score=round(min(1.0, max(0.0, score)), 4),
        grounding=_rounded(parts.get("grounding")),
        retrieval=_rounded(parts.get("retrieval")),
        model=_rounded(parts.get("model")),
        claims=len(found),
        supported=supported,
        reasons=reasons,
    )


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)

"""Calibrating the review threshold: answer confidence on SciFact claims, grounded and not.

    .venv/bin/python bench/confidence_calibration.py [--split train] [--limit 300]

Each SciFact claim stands in for a one-sentence answer that cites one source, `<claim> [1].`,
scored by the answer steps' own formula (activities/llm/confidence.py) twice: with a source
annotated as evidence for it (grounded: the abstract supports or refutes the claim, so the answer
rests on it), and with a random other abstract (ungrounded: a citation to a source that does not
say it). Sources get their quotes as retrieval gives them (activities/knowledge/evidence.py: the
three sentences of the abstract most similar to the claim, MiniLM). Prints the score
distributions and, for each threshold, how many ungrounded answers it sends to review and how
many grounded ones it holds up needlessly.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from activities import context
from activities.knowledge import LocalEmbedder
from activities.knowledge.evidence import attach_quotes
from activities.llm.confidence import measure
from aios.models import Passage, SourcePassages

DATA = Path(__file__).resolve().parents[2] / "shared" / "bench-data" / "scifact"


def _load(split: str) -> tuple[dict[str, str], dict[str, str], dict[str, list[str]]]:
    corpus = {}
    with (DATA / "corpus.jsonl").open() as f:
        for line in f:
            doc = json.loads(line)
            corpus[doc["_id"]] = f"{doc['title']}. {doc['text']}"
    claims = {}
    with (DATA / "queries.jsonl").open() as f:
        for line in f:
            q = json.loads(line)
            claims[q["_id"]] = q["text"]
    evidence: dict[str, list[str]] = {}
    with (DATA / "qrels" / f"{split}.tsv").open() as f:
        next(f)
        for line in f:
            qid, doc_id, _ = line.split("\t")
            evidence.setdefault(qid, []).append(doc_id)
    return corpus, claims, evidence


async def _score(embedder: LocalEmbedder, claim: str, doc_id: str, text: str) -> float:
    source = SourcePassages(
        source=doc_id,
        title=doc_id,
        chunks=[Passage(source=doc_id, chunk_id=f"{doc_id}:0", text=text, score=0.0)],
    )
    await attach_quotes(embedder, claim, [source])
    raw = [source.model_dump()]
    answer = f"{claim.rstrip('.')} [1]."
    return measure(answer, context.normalize(raw), raw).score


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="train")
    parser.add_argument("--limit", type=int, default=300)
    args = parser.parse_args()
    corpus, claims, evidence = _load(args.split)
    rng = random.Random(26)
    ids = sorted(evidence, key=int)[: args.limit]
    doc_ids = sorted(corpus)
    embedder = LocalEmbedder("all-MiniLM-L6-v2")
    grounded, ungrounded = [], []
    for qid in ids:
        claim = claims[qid]
        doc = evidence[qid][0]
        grounded.append(await _score(embedder, claim, doc, corpus[doc]))
        other = rng.choice([d for d in doc_ids[:2000] if d not in evidence[qid]])
        ungrounded.append(await _score(embedder, claim, other, corpus[other]))
    print(
        f"SciFact {args.split}, {len(ids)} claims, each cited with its evidence and with a "
        "random abstract\n"
    )
    print("| answer cites | mean | p10 | p50 | p90 |")
    print("|---|---|---|---|---|")
    for name, scores in (("its evidence", grounded), ("a random abstract", ungrounded)):
        q = statistics.quantiles(scores, n=10)
        print(
            f"| {name} | {statistics.mean(scores):.3f} | {q[0]:.3f} | "
            f"{statistics.median(scores):.3f} | {q[-1]:.3f} |"
        )
    print("\n| threshold | ungrounded sent to review | grounded held for review |")
    print("|---|---|---|")
    for threshold in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7):
        caught = sum(s < threshold for s in ungrounded) / len(ungrounded)
        held = sum(s < threshold for s in grounded) / len(grounded)
        print(f"| {threshold:.1f} | {caught:.0%} | {held:.0%} |")


if __name__ == "__main__":
    asyncio.run(main())

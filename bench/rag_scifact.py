"""Retrieval quality and speed on BEIR SciFact, through AIOS's real paths: the corpus is ingested
with `POST /v1/documents` (-> IngestWorkflow -> chunk, embed, index in embedded Qdrant), and every
query goes through `GET /v1/search` in each mode.

    .venv/bin/python bench/rag_scifact.py                    # test split (300 queries)
    .venv/bin/python bench/rag_scifact.py --split train --weights 0.5,1,1.5,2   # tuning

Prints nDCG@10 and recall@100 per mode, ingestion throughput (documents/s) and search latency
(p50/p95, measured at the HTTP client). A document's rank is the rank of its best chunk. Tune only
on the train split (809 queries); bench/README.md has the figures and the published anchors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aios.client import ApiClient
from aios.config import Settings
from cli.devstack import running_stack

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "bench-data" / "scifact"
MODES = ("hybrid", "dense", "keyword")
SEARCH_K = 200  # chunks per query: enough distinct documents for recall@100


def load(split: str) -> tuple[list[dict[str, str]], dict[str, str], dict[str, dict[str, int]]]:
    corpus = [json.loads(line) for line in (DATA / "corpus.jsonl").open()]
    queries = {q["_id"]: q["text"] for q in map(json.loads, (DATA / "queries.jsonl").open())}
    qrels: dict[str, dict[str, int]] = {}
    for n, line in enumerate((DATA / "qrels" / f"{split}.tsv").open()):
        if n == 0:
            continue
        query_id, doc_id, score = line.split("\t")
        qrels.setdefault(query_id, {})[doc_id] = int(score)
    return corpus, queries, qrels


def ndcg_at(ranked: list[str], relevant: dict[str, int], k: int = 10) -> float:
    dcg = sum(relevant.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    return dcg / sum(r / math.log2(i + 2) for i, r in enumerate(ideal))


def recall_at(ranked: list[str], relevant: dict[str, int], k: int = 100) -> float:
    return len(set(ranked[:k]) & set(relevant)) / len(relevant)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def ingest(api: ApiClient, corpus: list[dict[str, str]]) -> float:
    """Ingest through the API, 1,000 documents per request; returns documents per second."""
    started = time.perf_counter()
    jobs = []
    for start in range(0, len(corpus), 1000):
        batch = corpus[start : start + 1000]
        documents = [{"text": d["text"], "title": d["title"], "source": d["_id"]} for d in batch]
        jobs.append((await api.ingest({"documents": documents}))["job_id"])
    last = -1
    while True:
        states = [await api.ingest_job(job) for job in jobs]
        done = sum(s["done"] + s["failed"] for s in states)
        if done != last:
            print(f"  ingesting: {done}/{len(corpus)}", file=sys.stderr)
            last = done
        if all(s["status"] in ("completed", "failed") for s in states):
            break
        await asyncio.sleep(1)
    elapsed = time.perf_counter() - started
    failed = sum(s["failed"] for s in states)
    if failed:
        raise SystemExit(f"{failed} documents failed to ingest: {states[0]['errors'][:3]}")
    return len(corpus) / elapsed


async def evaluate(
    api: ApiClient, queries: dict[str, str], qrels: dict[str, dict[str, int]], mode: str
) -> tuple[float, float, list[float]]:
    ndcgs, recalls, latencies = [], [], []
    for query_id, relevant in qrels.items():
        t = time.perf_counter()
        answer = await api.search(queries[query_id], k=SEARCH_K, mode=mode)
        latencies.append(time.perf_counter() - t)
        ranked: list[str] = []
        for hit in answer["results"]:
            if hit["source"] not in ranked:
                ranked.append(hit["source"])
        ndcgs.append(ndcg_at(ranked, relevant))
        recalls.append(recall_at(ranked, relevant))
    return statistics.mean(ndcgs), statistics.mean(recalls), latencies


async def main(split: str, weights: list[float] | None) -> None:
    corpus, queries, qrels = load(split)
    scratch = Path(tempfile.mkdtemp(prefix="aios-scifact-"))
    # Retrieval needs no language model: point at a port nothing listens on.
    settings = Settings().model_copy(
        update={"data_dir": scratch, "local_model_url": "http://127.0.0.1:9/v1"}
    )
    async with (
        running_stack(settings, on_step=lambda _m: None) as dev,
        ApiClient(dev.api_url, dev.api_key, timeout_s=120) as api,
    ):
        await api.search("warm-up", k=1)  # loads the embedding model
        print(f"SciFact {split}: {len(corpus)} documents, {len(qrels)} queries")
        rate = await ingest(api, corpus)
        print(f"ingestion: {rate:6.1f} documents/s ({len(corpus) / rate:.0f} s in all)")
        print(f"{'mode':<16}{'nDCG@10':>9}{'recall@100':>12}{'p50 ms':>9}{'p95 ms':>9}")
        runs: list[tuple[str, float | None]] = [(m, None) for m in MODES]
        if weights:
            runs = [("hybrid", w) for w in weights]
        for mode, weight in runs:
            label = mode
            if weight is not None:
                dev.resources.index.keyword_weight = weight
                label = f"hybrid w={weight:g}"
            ndcg, recall, lat = await evaluate(api, queries, qrels, mode)
            print(
                f"{label:<16}{ndcg:>9.4f}{recall:>12.4f}"
                f"{1000 * percentile(lat, 50):>9.1f}{1000 * percentile(lat, 95):>9.1f}"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=["test", "train"], default="test")
    parser.add_argument(
        "--weights", help="comma-separated keyword weights to compare (hybrid only; tune on train)"
    )
    args = parser.parse_args()
    weights = [float(w) for w in args.weights.split(",")] if args.weights else None
    asyncio.run(main(args.split, weights))

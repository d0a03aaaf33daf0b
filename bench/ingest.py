"""Ingestion speed on BEIR SciFact: AIOS against a plain script, in one invocation.

    .venv/bin/python bench/ingest.py                     # the 5,183 abstracts
    .venv/bin/python bench/ingest.py --limit 1000        # a quicker look
    AIOS_EMBEDDING_ENGINE=torch .venv/bin/python bench/ingest.py

In order, on one machine, with the stack of `aios dev` in this process:
1. the plain script: the same chunks ingestion makes (title, heading and text, 1,200 characters)
   embedded with the same engine and nothing else: the floor AIOS is measured against;
2. float32 torch (sentence-transformers) on those chunks, for the engine's speed-up
   (`--torch-sample` chunks of them, the longest and shortest alike, to keep it short);
3. AIOS: `POST /v1/documents` (1,000 per request) -> IngestWorkflow -> load, chunk, embed, BM25,
   index in the embedded Qdrant, until every job reports done;
4. AIOS again with the embedding cache warm: the same texts as new documents (other sources), so
   nothing is skipped as unchanged and every vector comes from the cache.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from activities.knowledge import LocalEmbedder, chunk_document
from activities.knowledge.index import embedding_input
from activities.knowledge.onnx_embedder import cpu_flags
from aios.client import ApiClient
from aios.config import Settings
from bench.rag_scifact import load
from cli.devstack import running_stack


async def ingest(api: ApiClient, corpus: list[dict[str, str]], suffix: str = "") -> float:
    """Through the API; seconds until every job is done."""
    started = time.perf_counter()
    jobs = []
    for start in range(0, len(corpus), 1000):
        documents = [
            {"text": d["text"], "title": d["title"], "source": d["_id"] + suffix}
            for d in corpus[start : start + 1000]
        ]
        jobs.append((await api.ingest({"documents": documents}))["job_id"])
    while True:
        states = [await api.ingest_job(job) for job in jobs]
        if all(s["status"] in ("completed", "failed") for s in states):
            break
        await asyncio.sleep(0.5)
    elapsed = time.perf_counter() - started
    failed = sum(s["failed"] for s in states)
    if failed:
        raise SystemExit(f"{failed} documents failed to ingest: {states[0]['errors'][:3]}")
    return elapsed


async def main(limit: int | None, torch_sample: int) -> None:
    corpus, _, _ = load("test")
    corpus = corpus[:limit] if limit else corpus
    flags = sorted(f for f in cpu_flags() if f.startswith(("avx", "amx", "asimd")))
    scratch = Path(tempfile.mkdtemp(prefix="aios-ingest-"))
    settings = Settings().model_copy(
        update={"data_dir": scratch, "local_model_url": "http://127.0.0.1:9/v1"}
    )
    async with (
        running_stack(settings, on_step=lambda _m: None) as dev,
        ApiClient(dev.api_url, dev.api_key, timeout_s=120) as api,
    ):
        await api.search("warm-up", k=1)  # exports and loads the embedding model
        embedder = dev.resources.index.embedder
        engine = getattr(embedder, "engine", None) or "torch"
        texts = [
            embedding_input(d["title"], chunk.heading, chunk.text)
            for d in corpus
            for chunk in chunk_document(
                d["text"],
                max_chars=settings.chunk_chars,
                overlap_chars=settings.chunk_overlap_chars,
            )
        ]
        print(f"SciFact: {len(corpus)} documents, {len(texts)} chunks; engine {engine}")
        print(f"CPU flags: {' '.join(flags) or 'unknown'}")

        started = time.perf_counter()
        for start in range(0, len(texts), 256):
            await embedder.embed(texts[start : start + 256])
        plain = time.perf_counter() - started
        print(f"plain script ({engine}): {len(corpus) / plain:7.1f} documents/s ({plain:.0f} s)")

        sample = random.Random(7).sample(texts, min(torch_sample, len(texts)))
        torch32 = LocalEmbedder(settings.embedding_model, precision="float32")
        await torch32.embed(["warm-up"])
        started = time.perf_counter()
        for start in range(0, len(sample), 256):
            await torch32.embed(sample[start : start + 256])
        torch_rate = len(sample) / (time.perf_counter() - started)
        engine_rate = len(texts) / plain
        print(
            f"float32 torch: {torch_rate:7.1f} chunks/s on {len(sample)} chunks; "
            f"engine {engine_rate:.1f} chunks/s: {engine_rate / torch_rate:.2f}x"
        )

        cold = await ingest(api, corpus)
        print(
            f"AIOS (POST /v1/documents): {len(corpus) / cold:7.1f} documents/s ({cold:.0f} s): "
            f"{plain / cold:.2f}x the plain script"
        )
        warm = await ingest(api, corpus, suffix="#again")
        print(
            f"AIOS, embedding cache warm: {len(corpus) / warm:7.1f} documents/s ({warm:.0f} s): "
            f"{cold / warm:.2f}x the first ingest"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="only the first N documents")
    parser.add_argument(
        "--torch-sample", type=int, default=1500, help="chunks float32 torch is timed on"
    )
    args = parser.parse_args()
    asyncio.run(main(args.limit, args.torch_sample))

"""Embedding engines side by side on BEIR SciFact: speed and retrieval quality of each.

    .venv/bin/python bench/embedding_engines.py                      # torch, onnx, onnx-int8
    .venv/bin/python bench/embedding_engines.py --engines onnx-int8 --limit 1000

For each engine: the corpus is chunked as ingestion chunks it, embedded (timed: the engine alone,
chunks per second) and indexed in an embedded Qdrant through the real `KnowledgeIndex`; the 300
test queries are searched through the same index in dense and hybrid mode. This is
bench/rag_scifact.py's retrieval without the API and Temporal around it, so the three engines
can be compared in minutes; its nDCG@10 and recall@100 are computed the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from activities.knowledge import DocumentChunks, KnowledgeIndex, SearchMode, chunk_document
from activities.knowledge.embeddings import LocalEmbedder, TextEmbedder
from activities.knowledge.engines import open_embedder
from activities.knowledge.index import embedding_input
from activities.knowledge.onnx_embedder import cpu_flags
from aios.stores.vectors import EdgeVectorStore
from bench.rag_scifact import load, ndcg_at, recall_at

ENGINES = ("torch", "onnx", "onnx-int8")


def engine(name: str, models_dir: Path) -> TextEmbedder:
    if name == "torch":  # float32: the reference every other engine is held to
        return LocalEmbedder("all-MiniLM-L6-v2", precision="float32")
    if name == "torch-auto":  # bfloat16 where the CPU has it (the pre-ONNX default)
        return LocalEmbedder("all-MiniLM-L6-v2")
    return open_embedder("all-MiniLM-L6-v2", engine=name, models_dir=models_dir)


class Precomputed:
    """The engine, answering texts already embedded from memory."""

    def __init__(self, engine: TextEmbedder, known: dict[str, list[float]]) -> None:
        self.engine, self.known = engine, known

    @property
    def name(self) -> str:
        return self.engine.name

    async def dimension(self) -> int:
        return await self.engine.dimension()

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if all(t in self.known for t in texts):
            return [self.known[t] for t in texts]
        return await self.engine.embed(texts)


async def measure(name: str, corpus: list[dict[str, str]], split: str, scratch: Path) -> None:
    _, queries, qrels = load(split)
    embedder = engine(name, scratch / "models")
    await embedder.embed(["warm-up"])  # export, quantize, load: once per machine, not timed
    documents = [
        DocumentChunks(
            tenant="bench",
            document_id=d["_id"],
            source=d["_id"],
            title=d["title"],
            chunks=chunk_document(d["text"]),
        )
        for d in corpus
    ]
    texts = [embedding_input(d.title, c.heading, c.text) for d in documents for c in d.chunks]
    started = time.perf_counter()
    embedded: list[list[float]] = []
    for start in range(0, len(texts), 256):
        embedded += await embedder.embed(texts[start : start + 256])
    elapsed = time.perf_counter() - started
    vectors = EdgeVectorStore(scratch / f"qdrant-{name}")
    # Indexing takes the vectors just computed; queries are embedded by the engine.
    known = dict(zip(texts, embedded, strict=True))
    index = KnowledgeIndex(vectors, Precomputed(embedder, known), collection_prefix="bench")
    for start in range(0, len(documents), 64):
        await index.index(documents[start : start + 64])
    scores: dict[str, tuple[float, float, float]] = {}
    for mode in (SearchMode.DENSE, SearchMode.HYBRID):
        ndcgs, recalls, latencies = [], [], []
        for query_id, relevant in qrels.items():
            t = time.perf_counter()
            hits = await index.search("bench", queries[query_id], 200, mode)
            latencies.append(time.perf_counter() - t)
            ranked: list[str] = []
            for hit in hits:
                if hit.source not in ranked:
                    ranked.append(hit.source)
            ndcgs.append(ndcg_at(ranked, relevant))
            recalls.append(recall_at(ranked, relevant))
        scores[mode] = (
            statistics.mean(ndcgs),
            statistics.mean(recalls),
            1000 * statistics.median(latencies),
        )
    await vectors.close()
    label = getattr(embedder, "engine", None) or name
    print(
        f"{name:<11}{len(texts) / elapsed:>9.1f}{scores['dense'][0]:>9.4f}"
        f"{scores['hybrid'][0]:>10.4f}{scores['dense'][1]:>10.4f}{scores['hybrid'][1]:>10.4f}"
        f"{scores['hybrid'][2]:>8.1f}   {label}",
        flush=True,
    )


async def main(engines: list[str], split: str, limit: int | None) -> None:
    corpus, _, _ = load(split)
    corpus = corpus[:limit] if limit else corpus
    flags = sorted(f for f in cpu_flags() if f.startswith(("avx", "amx", "asimd")))
    print(f"SciFact {split}: {len(corpus)} documents; CPU flags: {' '.join(flags) or 'unknown'}")
    print(
        f"{'engine':<11}{'chunks/s':>9}{'dense':>9}{'hybrid':>10}"
        f"{'R@100 d':>10}{'R@100 h':>10}{'q p50':>8}   (nDCG@10; query ms in-process)"
    )
    scratch = Path(tempfile.mkdtemp(prefix="aios-engines-"))
    for name in engines:
        await measure(name, corpus, split, scratch)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma-separated")
    parser.add_argument("--split", choices=["test", "train"], default="test")
    parser.add_argument("--limit", type=int, help="only the first N documents (a quick look)")
    args = parser.parse_args()
    asyncio.run(main(args.engines.split(","), args.split, args.limit))

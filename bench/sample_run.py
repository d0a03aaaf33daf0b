"""Figures for the main job on the embedded stack: stack start-up, indexing the sample corpus,
and research runs end to end (API -> workflow -> activities -> local model), plus peak memory.

    make bench            # or: .venv/bin/python bench/sample_run.py --runs 3

Everything starts from an empty data dir (fresh PostgreSQL, Temporal and Qdrant, so indexing really
embeds), reusing only the model that `make demo` fetched into AIOS_DATA_DIR (default .aios).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aios.client import ApiClient
from aios.config import Settings
from aios.vocabulary import TERMINAL_STATUSES, RunStatus
from cli.demo import DEMO_GOAL, SAMPLE_CORPUS
from cli.devstack import running_stack
from cli.knowledge import ingest


async def main(runs: int) -> None:
    shared = Settings()
    scratch = Path(tempfile.mkdtemp(prefix="aios-bench-"))
    models = shared.resolved_data_dir / "models"
    if models.is_dir():
        (scratch / "models").symlink_to(models)
    settings = shared.model_copy(update={"data_dir": scratch})
    t0 = time.perf_counter()
    async with running_stack(settings, on_step=lambda _m: None) as dev:
        started = time.perf_counter() - t0
        durations: list[float] = []
        tokens = 0
        async with ApiClient(dev.api_url, dev.api_key, timeout_s=60) as api:
            t1 = time.perf_counter()
            ingested_jobs = await ingest(api, [str(SAMPLE_CORPUS)], show_progress=False)
            ingested = time.perf_counter() - t1
            for _ in range(runs):
                t = time.perf_counter()
                created = await api.create_run({"goal": DEMO_GOAL})
                while True:
                    run = await api.get_run(created.run_id)
                    if run.status in TERMINAL_STATUSES:
                        break
                    await asyncio.sleep(0.2)
                durations.append(time.perf_counter() - t)
                tokens += run.usage.input_tokens + run.usage.output_tokens
                if run.status != RunStatus.COMPLETED:
                    print(f"run {created.run_id} ended {run.status}: {run.error}")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    jobs = ingested_jobs["jobs"]
    chunks = sum(j["chunks"] for j in jobs)
    docs = sum(j["done"] for j in jobs)
    print(f"stack start-up:        {started:6.2f} s")
    print(
        f"index sample corpus:   {ingested:6.2f} s  ({docs} docs, {chunks} chunks, uploaded "
        "through the API; includes loading MiniLM)"
    )
    print(
        f"research run (n={runs}):   median {statistics.median(durations):6.2f} s, "
        f"min {min(durations):.2f} s, max {max(durations):.2f} s"
    )
    print(f"tokens per run:        {tokens // max(runs, 1)}")
    print(f"peak RSS (this process, incl. model server, worker, API): {peak_mib:.0f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    asyncio.run(main(parser.parse_args().runs))

"""Eval throughput: dataset rows per minute through the whole path (POST /v1/evals -> EvalWorkflow
-> one AgentRunWorkflow per row -> retrieval and the model -> scoring in PostgreSQL), with the
scripted OpenAI-protocol model answering each call after `--latency-ms`.

    .venv/bin/python bench/evals.py [--rows 40] [--latency-ms 200] [--concurrency 1 4 8]

The embedded stack (`aios dev`'s: Temporal dev server, PostgreSQL, one worker, the API) runs in
this process with a scratch data dir; each concurrency gets its own eval over the same rows
(skill answer_with_citations: a retrieval over an empty knowledge base and one model call).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from pathlib import Path

from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aios.client import ApiClient
from aios.config import Settings
from aios.evals import CreateEval
from cli.devstack import running_stack
from tests.support.fake_openai import FakeOpenAI
from tests.support.processes import free_port


async def main(rows: int, latency_ms: int, concurrencies: list[int]) -> None:
    fake = FakeOpenAI().start()
    scratch = Path(tempfile.mkdtemp(prefix="aios-bench-evals-"))
    settings = Settings().model_copy(
        update={
            "data_dir": scratch,
            "model_fast": "local:fake-fast",
            "model_strong": "local:fake-strong",
            "local_model_url": fake.base_url,
            "dev_api_key": SecretStr("bench-evals-key"),
            "api_port": free_port(),
            "temporal_dev_port": free_port(),
            "temporal_ui_port": free_port(),
        }
    )
    dataset = [
        {
            "question": f"How often are seals replaced at plant {i}? [latency_ms={latency_ms}]",
            "expected": "4,000 hours",
        }
        for i in range(rows)
    ]
    try:
        async with (
            running_stack(settings, on_step=lambda _m: None) as dev,
            ApiClient(dev.api_url, dev.api_key, timeout_s=60) as api,
        ):
            # Plain log lines: a rich handler (installed by a library of the API) imports rich
            # inside the workflow sandbox the first time a workflow logs, which fails there.
            logging.basicConfig(level=logging.WARNING, force=True)
            print(f"{rows} rows, scripted model at {latency_ms} ms a call")
            for concurrency in concurrencies:
                t0 = time.perf_counter()
                created = await api.create_eval(
                    CreateEval(
                        name=f"bench-c{concurrency}",
                        rows=dataset,
                        skill="answer_with_citations",
                        scorers=["contains", "grounding"],
                        concurrency=concurrency,
                    )
                )
                while (result := await api.eval(created.eval_id)).status == "running":
                    await asyncio.sleep(0.2)
                wall = time.perf_counter() - t0
                scored = sum(r.status == "scored" for r in result.results)
                print(
                    f"concurrency {concurrency:2}: {wall:6.1f} s, {60 * rows / wall:6.1f} rows/min"
                    f" ({scored}/{rows} scored)"
                )
    finally:
        fake.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=40)
    parser.add_argument("--latency-ms", type=int, default=200)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8])
    args = parser.parse_args()
    asyncio.run(main(args.rows, args.latency_ms, args.concurrency))

"""What orchestration costs: the same plan of model calls run three ways, side by side.

    .venv/bin/python bench/overhead.py                 # L = 0, 50, 200 ms, then the throughput test
    .venv/bin/python bench/overhead.py --reps 3 --latencies 0 --no-throughput

- plain asyncio: the calls made directly, no durability (the floor);
- minimal: the smallest hand-written temporalio workflow with one activity per call (what Temporal
  itself costs);
- AIOS: `POST /v1/runs` with the plan as a client plan of `llm` steps, followed through the API's
  event stream until it reports the run done.

Everything runs as an operator would run it, each piece its own process on this machine: one
Temporal dev server, PostgreSQL, one scripted OpenAI-protocol model (it answers after the latency
each prompt asks for), the AIOS worker and API, the minimal workflow's worker. The three variants
take turns (the order rotates each round) so machine noise hits them alike. AIOS is measured as
workflow time (Temporal's start and close times, as for the minimal workflow) and end to end.

The throughput test starts N concurrent runs of 5 steps at 100 ms (the minimal workflow through the
Temporal client, AIOS through the API, both with the same bounded client concurrency) and reports
runs/s from the first start to the last completion. The two take turns for three rounds (the
machine's speed drifts by a fifth between minutes here); the ratio is given best of each and as the
median of the rounds' pairs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx2
from openai import AsyncOpenAI
from temporalio.client import Client, WorkflowFailureError

from aios.client import ApiClient
from aios.config import Settings
from bench.minimal_workflow import LayeredPlan, MinimalPlanWorkflow, call_model, layers, run_plain
from tests.support.processes import Deployment, Process

MINIMAL_QUEUE = "bench-minimal"
VARIANTS = ("plain", "minimal", "aios")


@dataclass
class Sample:
    e2e_s: float
    workflow_s: float | None = None


@dataclass
class Series:
    samples: dict[str, list[Sample]] = field(default_factory=lambda: {v: [] for v in VARIANTS})

    def median(self, variant: str, what: str = "e2e_s") -> float:
        values = [getattr(s, what) for s in self.samples[variant]]
        return float(statistics.median(v for v in values if v is not None))


def instruction(latency_ms: int) -> str:
    return f"Summarise the findings so far. [latency_ms={latency_ms}]"


def aios_plan(plan: LayeredPlan) -> dict[str, Any]:
    """The same layers as `llm` steps; each step depends on every step of the layer before."""
    steps: list[dict[str, Any]] = []
    previous: list[str] = []
    for depth, width in enumerate(plan.layers):
        ids = [f"s{depth}-{i}" for i in range(width)]
        steps += [
            {
                "id": step_id,
                "kind": "llm",
                "args": {"instruction": plan.instruction, "max_tokens": 64},
                "depends_on": previous,
            }
            for step_id in ids
        ]
        previous = ids
    return {"steps": steps, "result_step": previous[0]}


async def workflow_seconds(temporal: Client, workflow_id: str) -> float:
    described = await temporal.get_workflow_handle(workflow_id).describe()
    assert described.close_time is not None, f"{workflow_id} has not closed"
    return (described.close_time - described.start_time).total_seconds()


class Bench:
    def __init__(self, temporal: Client, api: ApiClient, model: AsyncOpenAI) -> None:
        self.temporal = temporal
        self.api = api
        self.model = model
        self._n = 0

    def _id(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}-{time.time_ns()}-{self._n}"

    async def plain(self, plan: LayeredPlan) -> Sample:
        started = time.perf_counter()
        await run_plain(self.model, plan)
        return Sample(time.perf_counter() - started)

    async def minimal(self, plan: LayeredPlan) -> Sample:
        started = time.perf_counter()
        handle = await self.temporal.start_workflow(
            MinimalPlanWorkflow.run, plan, id=self._id("minimal"), task_queue=MINIMAL_QUEUE
        )
        await handle.result()
        e2e = time.perf_counter() - started
        return Sample(e2e, await workflow_seconds(self.temporal, handle.id))

    async def aios(self, plan: LayeredPlan) -> Sample:
        started = time.perf_counter()
        created = await self.api.create_run({"goal": "overhead bench", "plan": aios_plan(plan)})
        state = await self.api.wait(created.run_id, timeout_s=300)
        e2e = time.perf_counter() - started
        if state.status != "completed":
            raise RuntimeError(f"AIOS run {state.run_id} ended {state.status}: {state.error}")
        await self.temporal.get_workflow_handle(created.run_id).result()
        return Sample(e2e, await workflow_seconds(self.temporal, created.run_id))

    async def latency_series(self, latency_ms: int, reps: int, plan_shape: list[int]) -> Series:
        plan = LayeredPlan(plan_shape, instruction(latency_ms))
        runners: dict[str, Callable[[LayeredPlan], Awaitable[Sample]]] = {
            "plain": self.plain,
            "minimal": self.minimal,
            "aios": self.aios,
        }
        for variant in VARIANTS:  # warm-up: connections, caches, the sandbox's first import
            await runners[variant](plan)
        series = Series()
        for rep in range(reps):
            order = VARIANTS[rep % 3 :] + VARIANTS[: rep % 3]
            for variant in order:
                series.samples[variant].append(await runners[variant](plan))
        return series

    async def throughput(
        self, variant: str, runs: int, plan: LayeredPlan, concurrency: int
    ) -> tuple[float, int]:
        """runs/s from the first start to the last completion, and how many runs failed."""
        gate = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with gate:
                if variant == "minimal":
                    handle = await self.temporal.start_workflow(
                        MinimalPlanWorkflow.run,
                        plan,
                        id=self._id("minimal"),
                        task_queue=MINIMAL_QUEUE,
                    )
                    workflow_id = handle.id
                else:
                    body = {"goal": "throughput bench", "plan": aios_plan(plan)}
                    workflow_id = (await self.api.create_run(body)).run_id
            await self.temporal.get_workflow_handle(workflow_id).result()

        started = time.perf_counter()
        outcomes = await asyncio.gather(*(one() for _ in range(runs)), return_exceptions=True)
        elapsed = time.perf_counter() - started
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        for failure in failures[:3]:
            kind = "failed" if isinstance(failure, WorkflowFailureError) else "error"
            print(f"  {variant} run {kind}: {failure!r}"[:300])
        return runs / elapsed, len(failures)


def start_aios(root: Path, temporal_flags: list[str] | None = None) -> Deployment:
    """The deployment every benchmark measures, each piece its own process; stopped again if a
    piece fails to start (no orphans)."""
    # A load test's key keeps many runs going and asks often: the per-key limits are lifted
    # (they protect a shared deployment from one client, which is not what is measured).
    deployment = Deployment(
        root,
        extra_env={
            "AIOS_MAX_CONCURRENT_RUNS": "100000",
            "AIOS_RATE_LIMIT_PER_MINUTE": "10000000",
        },
        temporal_flags=temporal_flags or [],
    )
    try:
        deployment.postgres()
        deployment.temporal().start()
        deployment.model().start()
        deployment.worker().start(timeout_s=180)
        deployment.api().start(timeout_s=120)
    except BaseException:
        deployment.close()
        raise
    return deployment


def start_deployment(
    root: Path, sandboxed: bool, temporal_flags: list[str] | None = None
) -> Deployment:
    """AIOS's deployment plus the minimal workflow's worker on the same Temporal server, its
    workflow in the sandbox or not as AIOS's (like for like)."""
    deployment = start_aios(root, temporal_flags)
    minimal = Process(
        "minimal-worker",
        [
            sys.executable,
            "-m",
            "bench.minimal_workflow",
            "--temporal",
            f"127.0.0.1:{deployment.temporal_port}",
            "--model-url",
            deployment.model_url,
            "--task-queue",
            MINIMAL_QUEUE,
            *([] if sandboxed else ["--unsandboxed"]),
        ],
        deployment.aios_env(),
        root / "minimal-worker.log",
        ready_line="minimal worker polling",
    )
    try:
        deployment.processes.append(minimal.start())
    except BaseException:
        deployment.close()
        raise
    return deployment


async def main(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="aios-overhead-"))
    sandboxed = Settings().workflow_sandbox
    runner = "in the sandbox" if sandboxed else "outside the sandbox"
    print(f"workflows run {runner} (AIOS_WORKFLOW_SANDBOX), AIOS's and the minimal one alike")
    print(f"starting the deployment under {root} ...", flush=True)
    deployment = start_deployment(root, sandboxed, args.temporal_flag)
    try:
        temporal = await Client.connect(f"127.0.0.1:{deployment.temporal_port}")
        model = AsyncOpenAI(
            base_url=deployment.model_url,
            api_key="sk-scripted",
            max_retries=0,
            # The openai SDK's own transport (httpx2), with room for every concurrent call.
            http_client=httpx2.AsyncClient(limits=httpx2.Limits(max_connections=1000)),
        )
        await call_model(model, instruction(0))
        async with ApiClient(deployment.api_url, deployment.api_key, timeout_s=120) as api:
            bench = Bench(temporal, api, model)
            shape = layers(args.steps, args.width)
            print(
                f"\n{args.steps} model calls in layers {shape}, {args.reps} rounds per latency "
                "(medians, seconds)\n"
            )
            header = (
                f"{'L':>6} {'plain':>8} {'minimal wf':>11} {'minimal e2e':>12} {'aios wf':>8} "
                f"{'aios e2e':>9}  {'aios wf/min wf':>14} {'aios e2e/plain':>15}"
            )
            print(header)
            for latency in args.latencies:
                s = await bench.latency_series(latency, args.reps, shape)
                plain, aios_e2e = s.median("plain"), s.median("aios")
                minimal_wf, aios_wf = (
                    s.median("minimal", "workflow_s"),
                    s.median("aios", "workflow_s"),
                )
                print(
                    f"{latency:>4}ms {plain:>8.3f} {minimal_wf:>11.3f} "
                    f"{s.median('minimal'):>12.3f} "
                    f"{aios_wf:>8.3f} {aios_e2e:>9.3f}  {aios_wf / minimal_wf:>13.2f}x "
                    f"{aios_e2e / plain:>14.2f}x",
                    flush=True,
                )
            if args.throughput_runs:
                plan = LayeredPlan(
                    layers(args.throughput_steps, args.width), instruction(args.throughput_latency)
                )
                print(
                    f"\nthroughput: {args.throughput_runs} concurrent runs of "
                    f"{args.throughput_steps} calls at {args.throughput_latency} ms, "
                    f"{args.concurrency} client requests at once"
                )
                figures: dict[str, list[float]] = {}
                for variant in args.throughput_variants * args.throughput_rounds:
                    rate, failed = await bench.throughput(
                        variant, args.throughput_runs, plan, args.concurrency
                    )
                    figures.setdefault(variant, []).append(rate)
                    print(f"  {variant:<8} {rate:6.1f} runs/s  failures: {failed}", flush=True)
                if {"aios", "minimal"} <= figures.keys():
                    best = {v: max(r) for v, r in figures.items()}
                    # Rounds alternate the variants, so each round's pair met the same machine.
                    rounds = zip(figures["minimal"], figures["aios"], strict=False)
                    pairs = [aios / minimal for minimal, aios in rounds]
                    print(
                        f"  aios / minimal: {best['aios'] / best['minimal']:.2f}x (best of each), "
                        f"{statistics.median(pairs):.2f}x (median of {len(pairs)} rounds' pairs)"
                    )
    finally:
        deployment.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument(
        "--latencies", type=lambda v: [int(x) for x in v.split(",") if x], default=[0, 50, 200]
    )
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--width", type=int, default=3)
    parser.add_argument("--throughput-runs", type=int, default=200)
    parser.add_argument("--throughput-steps", type=int, default=5)
    parser.add_argument("--throughput-latency", type=int, default=100)
    parser.add_argument("--throughput-rounds", type=int, default=3)
    parser.add_argument(
        "--throughput-variants", type=lambda v: v.split(","), default=["minimal", "aios"]
    )
    parser.add_argument(
        "--temporal-flag",
        action="append",
        default=[],
        help="an extra `temporal server start-dev` flag (repeatable)",
    )
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--no-throughput", dest="throughput_runs", action="store_const", const=0)
    asyncio.run(main(parser.parse_args()))

"""What orchestration costs: the same plan of model calls run three ways, side by side.

    .venv/bin/python bench/overhead.py                 # L = 0, 50, 200 ms, then the throughput test
    .venv/bin/python bench/overhead.py --reps 3 --latencies 0 --no-throughput

- plain asyncio: the calls made directly, no durability (the floor);
- minimal: the leanest honest temporalio workflow of the same shape (`bench/minimal_workflow.py`):
  one activity per call, SDK defaults, its worker in this process on the client's connection (no
  process of its own, no second connection: what Temporal itself costs, and nothing else);
  `--minimal-worker process` runs it in a process of its own instead, as before;
- AIOS: `POST /v1/runs` with the plan as a client plan of `llm` steps, waited for with the
  client's `wait()` (a long poll on `GET /v1/runs/{id}?wait_s=`) until the API reports it done.

First, counts that do not depend on the machine's load: one run of each at 0 ms, from its history
(events, workflow tasks, activities, local activities, search-attribute upserts, bytes);
`--no-evidence` skips them. The latency table's ratios are medians of the rounds' pairs.

Everything else runs as an operator would run it, each piece its own process on this machine: one
Temporal dev server, PostgreSQL, one scripted OpenAI-protocol model (it answers after the latency
each prompt asks for), the AIOS worker and API. The three variants
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
import contextlib
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
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from aios.client import ApiClient
from aios.config import Settings
from bench import minimal_workflow
from bench.minimal_workflow import (
    LayeredPlan,
    MinimalPlanWorkflow,
    call_model,
    call_model_activity,
    layers,
    run_plain,
)
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

    def paired(self, what: str, against: str = "minimal") -> float:
        """The median of AIOS's figure over `against`'s, round by round (each round's pair met
        the same machine)."""
        pairs = zip(self.samples["aios"], self.samples[against], strict=True)
        ratios = [getattr(a, what) / getattr(b, what) for a, b in pairs]
        return float(statistics.median(ratios))


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


async def history_counts(temporal: Client, workflow_id: str) -> dict[str, int]:
    """What a run cost Temporal, independent of the machine's load: its history's events,
    workflow tasks, activities (server round trips), local activities (markers) and
    search-attribute upserts (visibility writes)."""
    history = await temporal.get_workflow_handle(workflow_id).fetch_history()
    kinds = [event.event_type for event in history.events]
    return {
        "events": len(kinds),
        "workflow tasks": kinds.count(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
        "activities": kinds.count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED),
        "local activities": kinds.count(EventType.EVENT_TYPE_MARKER_RECORDED),
        "upserts": kinds.count(EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES),
        "history bytes": sum(event.ByteSize() for event in history.events),
    }


class Bench:
    def __init__(self, temporal: Client, api: ApiClient, model: AsyncOpenAI) -> None:
        self.temporal = temporal
        self.api = api
        self.model = model
        self._n = 0
        self.last_id: dict[str, str] = {}

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
        self.last_id["minimal"] = handle.id
        return Sample(e2e, await workflow_seconds(self.temporal, handle.id))

    async def aios(self, plan: LayeredPlan) -> Sample:
        started = time.perf_counter()
        created = await self.api.create_run({"goal": "overhead bench", "plan": aios_plan(plan)})
        state = await self.api.wait(created.run_id, timeout_s=300)
        e2e = time.perf_counter() - started
        if state.status != "completed":
            raise RuntimeError(f"AIOS run {state.run_id} ended {state.status}: {state.error}")
        await self.temporal.get_workflow_handle(created.run_id).result()
        self.last_id["aios"] = created.run_id
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
    """AIOS's deployment plus the minimal workflow's worker in a process of its own on the same
    Temporal server, its workflow in the sandbox or not as AIOS's (like for like)."""
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


def in_process_worker(temporal: Client, model_url: str, sandboxed: bool) -> Worker:
    """The minimal workflow's worker in this process, on the client's own connection: SDK
    defaults (pollers, slots, cache, converter), the sandbox as AIOS's setting says (the SDK's
    default is the sandbox, as AIOS's)."""
    minimal_workflow._model = AsyncOpenAI(base_url=model_url, api_key="sk-scripted", max_retries=0)
    return Worker(
        temporal,
        task_queue=MINIMAL_QUEUE,
        workflows=[MinimalPlanWorkflow],
        activities=[call_model_activity],
        workflow_runner=SandboxedWorkflowRunner() if sandboxed else UnsandboxedWorkflowRunner(),
    )


async def evidence(bench: Bench, shape: list[int]) -> None:
    """Load-independent figures beside the timings: one run of each at 0 ms, from its history.
    (PostgreSQL round trips per model call are counted inside a worker, bench/README.md says how:
    the statistics views count transactions, and report them late.)"""
    plan = LayeredPlan(shape, instruction(0))
    calls = sum(shape)
    counts: dict[str, dict[str, int]] = {}
    for variant in ("minimal", "aios"):
        await (bench.minimal if variant == "minimal" else bench.aios)(plan)
        counts[variant] = await history_counts(bench.temporal, bench.last_id[variant])
    print(f"\nper run of {calls} calls (from the histories): {'':>4}minimal {'':>6}aios")
    for key in counts["minimal"]:
        print(f"  {key:<36} {counts['minimal'][key]:>9} {counts['aios'][key]:>9}")


async def main(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="aios-overhead-"))
    sandboxed = Settings().workflow_sandbox
    runner = "in the sandbox" if sandboxed else "outside the sandbox"
    in_process = args.minimal_worker == "in-process"
    print(f"workflows run {runner} (AIOS_WORKFLOW_SANDBOX), AIOS's and the minimal one alike")
    print(f"the minimal workflow's worker: {args.minimal_worker}")
    print(f"starting the deployment under {root} ...", flush=True)
    if in_process:
        deployment = start_aios(root, args.temporal_flag)
    else:
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
        worker: Worker | contextlib.nullcontext[None] = contextlib.nullcontext()
        if in_process:
            worker = in_process_worker(temporal, deployment.model_url, sandboxed)
        async with (
            ApiClient(deployment.api_url, deployment.api_key, timeout_s=120) as api,
            worker,
        ):
            bench = Bench(temporal, api, model)
            shape = layers(args.steps, args.width)
            if args.evidence:
                await evidence(bench, shape)
            print(
                f"\n{args.steps} model calls in layers {shape}, {args.reps} rounds per latency "
                "(medians, seconds)\n"
            )
            print(
                "ratios are medians of the rounds' pairs (AIOS and the minimal workflow of one "
                "round ran one after the other)"
            )
            header = (
                f"{'L':>6} {'plain':>8} {'minimal wf':>11} {'minimal e2e':>12} {'aios wf':>8} "
                f"{'aios e2e':>9}  {'wf / min wf':>11} {'e2e / min e2e':>13} {'e2e / plain':>11}"
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
                    f"{aios_wf:>8.3f} {aios_e2e:>9.3f}  {s.paired('workflow_s'):>10.2f}x "
                    f"{s.paired('e2e_s'):>12.2f}x {s.paired('e2e_s', 'plain'):>10.2f}x",
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
    parser.add_argument(
        "--minimal-worker",
        choices=["in-process", "process"],
        default="in-process",
        help="the minimal workflow's worker in this process (the leanest) or its own",
    )
    parser.add_argument(
        "--no-evidence",
        dest="evidence",
        action="store_false",
        help="skip the history and PostgreSQL counts",
    )
    parser.add_argument("--no-throughput", dest="throughput_runs", action="store_const", const=0)
    asyncio.run(main(parser.parse_args()))

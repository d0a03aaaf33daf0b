"""Load on the API: concurrent clients start runs and follow them to the end, against one API
process and one worker; then 1,000 runs parked at an approval, held, approved and completed.

    .venv/bin/python bench/load_api.py                      # 10, 25, 50 clients, then approvals
    .venv/bin/python bench/load_api.py --clients 50 --seconds 30 --approvals 0

Each client loops: `POST /v1/runs` (a 5-step client plan of model calls at `--latency-ms`), then
waits until the API reports it done: polls with `ApiClient.wait` (a long poll on
`GET /v1/runs/{id}?wait_s=`), or with `--follow` streams its events until `run.finished`, as the
console and `aios run --follow` do. Reported per
level: completed runs/s, POST latency and time to completion (p50, p99), 5xx and other errors,
runs lost (started but never reported done), and each process's CPU share, which shows what
saturates first. The deployment is the one `bench/overhead.py` uses: separate processes for the
Temporal dev server, PostgreSQL, the scripted model, the worker and the API.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from temporalio.client import Client

from aios.client import ApiClient, ApiError
from aios.models import RunState
from aios.vocabulary import RunEventType, RunStatus
from bench.minimal_workflow import LayeredPlan, layers
from bench.overhead import aios_plan, instruction, start_aios
from tests.support.processes import Deployment

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its live children (PostgreSQL's backends are children
    of the postmaster)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = _stat(int(entry.name))
        except OSError:
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Level:
    clients: int
    post_s: list[float] = field(default_factory=list)
    done_s: list[float] = field(default_factory=list)
    server_errors: int = 0
    other_errors: list[str] = field(default_factory=list)
    started: set[str] = field(default_factory=set)
    finished: set[str] = field(default_factory=set)
    failed_runs: int = 0


async def client_loop(
    deployment: Deployment, body: dict[str, Any], level: Level, stop_at: float, follow: bool
) -> None:
    async with ApiClient(deployment.api_url, deployment.api_key, timeout_s=120) as api:
        await _loop(api, body, level, stop_at, follow)


async def until_done(api: ApiClient, run_id: str, follow: bool) -> RunState:
    if not follow:
        return await api.wait(run_id, timeout_s=300)
    async with asyncio.timeout(300):
        async for event in api.events(run_id):
            if event.get("type") == RunEventType.RUN_FINISHED:
                break
    return await api.get_run(run_id)


async def _loop(
    api: ApiClient, body: dict[str, Any], level: Level, stop_at: float, follow: bool
) -> None:
    while time.monotonic() < stop_at:
        t0 = time.monotonic()
        try:
            created = await api.create_run(body)
        except ApiError as e:
            if e.status >= 500:
                level.server_errors += 1
            else:
                level.other_errors.append(f"POST {e.status}")
            await asyncio.sleep(0.5)
            continue
        except httpx.HTTPError as e:
            level.other_errors.append(f"POST {type(e).__name__}")
            continue
        level.post_s.append(time.monotonic() - t0)
        run_id = created.run_id
        level.started.add(run_id)
        try:
            state = await until_done(api, run_id, follow)
        except ApiError as e:
            if e.status >= 500:
                level.server_errors += 1
            else:
                level.other_errors.append(f"wait {e.status}")
            continue
        except (httpx.HTTPError, TimeoutError) as e:
            level.other_errors.append(f"wait {type(e).__name__}")
            continue
        level.done_s.append(time.monotonic() - t0)
        level.finished.add(run_id)
        if state.status != "completed":
            level.failed_runs += 1


async def run_level(
    deployment: Deployment, clients: int, seconds: float, body: dict[str, Any], follow: bool
) -> None:
    level = Level(clients)
    pids = {p.name: p.pid for p in deployment.processes if p.alive}
    pids["postgres"] = deployment.postgres_pid  # with its backends (children)
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    started = time.monotonic()
    stop_at = started + seconds
    # Each client its own connections, as separate programs would have.
    await asyncio.gather(
        *(client_loop(deployment, body, level, stop_at, follow) for _ in range(clients))
    )
    elapsed = time.monotonic() - started
    cpu = {name: (cpu_seconds(pid) - cpu_before[name]) / elapsed for name, pid in pids.items()}
    lost = level.started - level.finished
    post_ms = [s * 1000 for s in level.post_s]
    print(
        f"{clients:>7} {len(level.finished) / elapsed:>7.1f} "
        f"{percentile(post_ms, 0.5):>8.0f} {percentile(post_ms, 0.99):>8.0f} "
        f"{percentile(level.done_s, 0.5):>8.2f} {percentile(level.done_s, 0.99):>8.2f} "
        f"{level.server_errors:>5} {len(level.other_errors):>6} {len(lost):>5} "
        f"{level.failed_runs:>6}   "
        + " ".join(f"{name} {share:.0%}" for name, share in cpu.items()),
        flush=True,
    )
    if level.other_errors:
        print(f"        other errors: {sorted(set(level.other_errors))[:5]}")


APPROVAL_PLAN = {
    "steps": [
        {
            "id": "review",
            "kind": "approval",
            "approval": {"reason": "sign-off", "timeout_s": 86400},
            "args": {"report": "quarterly"},
        },
        {"id": "publish", "kind": "tool", "tool": "echo", "args": {"value": "published"}},
    ]
}


async def parked_approvals(deployment: Deployment, count: int, concurrency: int) -> None:
    worker = deployment.process("worker")
    temporal = await Client.connect(f"127.0.0.1:{deployment.temporal_port}")
    print(f"\n{count} runs parked at an approval (client concurrency {concurrency})")
    print(f"  worker RSS before: {rss_mib(worker.pid):.0f} MiB")
    gate = asyncio.Semaphore(concurrency)
    errors: list[str] = []
    async with ApiClient(deployment.api_url, deployment.api_key, timeout_s=120) as api:

        async def start_one(i: int) -> str | None:
            async with gate:
                try:
                    body = {"goal": f"approval {i}", "plan": APPROVAL_PLAN}
                    return (await api.create_run(body)).run_id
                except (ApiError, httpx.HTTPError) as e:
                    errors.append(repr(e))
                    return None

        t0 = time.monotonic()
        run_ids = [r for r in await asyncio.gather(*(start_one(i) for i in range(count))) if r]
        query = "AiosStatus = 'awaiting_approval' AND WorkflowType = 'AgentRunWorkflow'"
        while (await temporal.count_workflows(query)).count < len(run_ids):
            await asyncio.sleep(0.5)
        parked = time.monotonic() - t0
        await asyncio.sleep(3)  # let the worker settle, then read its memory
        print(
            f"  started and parked: {len(run_ids)} in {parked:.1f} s; start errors: {len(errors)}; "
            f"worker RSS held: {rss_mib(worker.pid):.0f} MiB"
        )

        async def approve_one(run_id: str) -> bool:
            async with gate:
                try:
                    state = await api.get_run(run_id)
                    pending = state.pending_approvals[0]
                    await api.approve(run_id, pending.approval_id, pending.args_hash)
                    return True
                except (ApiError, httpx.HTTPError, IndexError) as e:
                    errors.append(repr(e))
                    return False

        t1 = time.monotonic()
        approved = sum(await asyncio.gather(*(approve_one(r) for r in run_ids)))
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            remaining = (await temporal.count_workflows(query)).count
            if remaining == 0:
                break
            await asyncio.sleep(0.5)
        statuses = [(await api.get_run(r)).status for r in run_ids[:50]]  # through the API
        print(
            f"  approved: {approved} in {time.monotonic() - t1:.1f} s (until none waits); "
            f"errors: {len(errors)}; spot check of {len(statuses)}: "
            f"{statuses.count(RunStatus.COMPLETED)} completed"
        )
        if errors:
            print(f"  first errors: {errors[:3]}")


async def main(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="aios-load-"))
    print(f"starting the deployment under {root} ...", flush=True)
    deployment = start_aios(root)
    try:
        plan = LayeredPlan(layers(args.steps, 3), instruction(args.latency_ms))
        body = {"goal": "load test", "plan": aios_plan(plan)}
        if args.clients:
            print(
                f"\n{args.seconds:.0f} s per level; each run {args.steps} model calls at "
                f"{args.latency_ms} ms; CPU as a share of one core\n"
            )
            print(
                f"{'clients':>7} {'runs/s':>7} {'POST p50':>8} {'p99 ms':>8} {'done p50':>8} "
                f"{'p99 s':>8} {'5xx':>5} {'errors':>6} {'lost':>5} {'failed':>6}   CPU"
            )
            for clients in args.clients:
                await run_level(deployment, clients, args.seconds, body, args.follow)
        if args.approvals:
            await parked_approvals(deployment, args.approvals, args.concurrency)
    finally:
        deployment.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--clients", type=lambda v: [int(x) for x in v.split(",") if x], default=[10, 25, 50]
    )
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--approvals", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument(
        "--follow", action="store_true", help="clients stream each run's events instead of polling"
    )
    asyncio.run(main(parser.parse_args()))

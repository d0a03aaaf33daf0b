"""`aios demo`: the README's first command. Starts the embedded stack, uploads the sample corpus
through the API (as `aios ingest` does), runs a research report through the API, prints it and
where to look."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from pathlib import Path

from aios.client import ApiClient, follow, format_report
from aios.config import Settings
from aios.vocabulary import RunStatus
from cli.devstack import running_stack, say
from cli.knowledge import ingest, summarise
from cli.runtime import log_path

# The demo's documents: a frozen copy of the project's docs, kept apart so that editing the docs
# changes neither the demo nor the tests that ingest the same folder (tests/helpers.py).
SAMPLE_CORPUS = Path(__file__).resolve().parent.parent / "examples" / "corpus"
DEMO_GOAL = "How does AIOS keep agent runs durable, and how do human approvals work?"


async def run_demo(args: argparse.Namespace) -> int:
    """Start the embedded stack, index the sample corpus, run a research report, print it."""
    settings = Settings()
    goal: str = args.goal or DEMO_GOAL
    corpus: str = args.corpus or str(SAMPLE_CORPUS)
    started = time.monotonic()
    async with running_stack(settings) as dev:
        say(f"stack up in {time.monotonic() - started:.1f}s")
        say(f"indexing the sample corpus {corpus} through the API ...")
        async with ApiClient(dev.api_url, dev.api_key, timeout_s=60) as api:
            ingested = await ingest(api, [corpus], show_progress=sys.stderr.isatty())
        for line in summarise(ingested):
            say(line)
        run_started = time.monotonic()
        async with ApiClient(dev.api_url, dev.api_key, timeout_s=60) as api:
            created = await api.create_run({"goal": goal})
            run_id = created.run_id
            say(f"research run {run_id} started: {goal}")
            run = await follow(api, run_id)
        elapsed = time.monotonic() - run_started
        print("\n" + "=" * 78)
        print(f"REPORT — {goal}\n")
        print(format_report(run))
        print("=" * 78)
        print(f"Run:          {run_id} ({run.status} in {elapsed:.1f}s)")
        print(f"API:          {dev.api_url}/v1/runs/{run_id}   (key: {dev.api_key})")
        print(f"Temporal UI:  {created.links.temporal_ui}")
        print(f"Log:          {log_path(settings, 'demo')}   (-v shows it here as well)")
        print(f"Total time:   {time.monotonic() - started:.1f}s")
        if run.status != RunStatus.COMPLETED:
            return 1
        if args.keep_running or (sys.stdin.isatty() and not args.exit):
            print("\nThe stack keeps running so you can look around; Ctrl-C stops it.")
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()
            say("stopping ...")
    return 0

"""Run by tests/cli/test_orphans.py in a pytest of its own (not collected by the suite): starts the
session's PostgreSQL and Temporal dev server, writes what it started to $AIOS_PROBE_OUT, then
finishes at once or waits to be interrupted or killed."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from cli.orphans import postmaster_pid
from tests.conftest import _children


async def test_probe(pg_url: str, temporal_env: WorkflowEnvironment) -> None:
    pgdata = Path(os.environ["AIOS_PROBE_PGDATA"])
    started = {"postgres": postmaster_pid(pgdata), "temporal": sorted(_children("temporal"))}
    Path(os.environ["AIOS_PROBE_OUT"]).write_text(json.dumps(started))
    if os.environ.get("AIOS_PROBE_WAIT"):
        time.sleep(120)

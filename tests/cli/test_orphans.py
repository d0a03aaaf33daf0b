"""The suite leaves no process behind (issue 22): a pytest of the suite's own fixtures that
finishes, is interrupted (SIGTERM, as CI's timeout sends) or is killed with -9 leaves no
PostgreSQL on its data dir and no Temporal dev server running."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.orphans import Guard, process_exists
from tests.conftest import REPO

PROBE = "tests/support/leftovers_probe.py"


@pytest.fixture
def probe_dir() -> Iterator[Path]:
    """Outside pytest's own temporary root: run as root, pgserver runs PostgreSQL as its own user,
    who loses the way in whenever another pytest session tightens that root to 0700."""
    path = Path(tempfile.mkdtemp(prefix="aios-probe-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _gone(pids: list[int], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while any(process_exists(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.mark.parametrize("ending", ["finished", "interrupted", "killed"])
def test_a_pytest_session_leaves_no_postgres_or_temporal_behind(
    probe_dir: Path, ending: str
) -> None:
    out = probe_dir / "started.json"
    basetemp = probe_dir / "probe"
    pgdata = basetemp / "pg0"  # the session's `tmp_path_factory.mktemp("pg")`
    env = {
        **os.environ,
        "AIOS_PROBE_OUT": str(out),
        "AIOS_PROBE_PGDATA": str(pgdata),
        "PYTHONPATH": str(REPO),
    }
    if ending != "finished":
        env["AIOS_PROBE_WAIT"] = "1"
    probe = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            PROBE,
            f"--basetemp={basetemp}",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while not out.exists() and probe.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert out.exists(), probe.communicate()[0].decode(errors="replace")[-3000:]
        time.sleep(0.2)  # written whole
        started = json.loads(out.read_text())
        postgres = started["postgres"]
        assert postgres is not None and started["temporal"], started
        if ending == "interrupted":
            probe.send_signal(signal.SIGTERM)
        elif ending == "killed":
            probe.send_signal(signal.SIGKILL)
        probe.communicate(timeout=60)
    finally:
        if probe.poll() is None:
            probe.kill()
            probe.wait()
    # A killed session's guards act within seconds; the others stopped everything on the way out
    # (a process may take a moment to exit after it said it stopped).
    assert _gone([postgres], 30 if ending == "killed" else 5), f"PostgreSQL on {pgdata} is left"
    assert not (pgdata / "postmaster.pid").exists()
    assert _gone(started["temporal"], 30 if ending == "killed" else 5), "Temporal is left"


def test_a_guard_disarmed_leaves_everything_running() -> None:
    sleeper = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        guard = Guard(groups=[sleeper.pid]).arm()
        guard.disarm()
        assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()

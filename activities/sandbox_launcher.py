"""The supervisor inside the code-execution sandbox (activities/sandbox.py). Standard library only.

bubblewrap starts it as the first process of the sandbox's own PID namespace (after bwrap's
init). It copies the inputs (`/inputs`, read-only) into the workspace (`/workspace`, a tmpfs of a
fixed size), starts the user's program with the resource limits set (CPU time, address space,
processes, file size, no core dumps), keeps the first bytes of its stdout and stderr and counts
the rest, kills every process of the sandbox at the wall-time limit and when the program ends
(so nothing keeps writing while the files are read), then prints one JSON document on its own
stdout: the exit status, the outputs, which limits were hit, and the regular files written or
changed in the workspace (symlinks, FIFOs and devices are listed as skipped, never read).

Everything it prints comes from a sandbox that ran untrusted code: the worker parses it with its
own size limit and treats it as untrusted data.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import json
import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time

WORKSPACE = "/workspace"
INPUTS = "/inputs"


def _not_dumpable() -> None:
    # The user's program runs as the same uid: without this it could open /proc/<us>/fd/1 and
    # write into our report (harmless, it is its own data, but the report should be ours).
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4


def _limit(cfg: dict[str, int]) -> None:
    """Runs in the child between fork and exec (this process has no other threads yet)."""
    cpu = cfg["cpu_s"]
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (cfg["memory_bytes"], cfg["memory_bytes"]))
    resource.setrlimit(resource.RLIMIT_NPROC, (cfg["max_processes"], cfg["max_processes"]))
    resource.setrlimit(resource.RLIMIT_FSIZE, (cfg["file_bytes"], cfg["file_bytes"]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))


def _read_capped(stream: object, cap: int, out: dict[str, object]) -> None:
    kept = bytearray()
    total = 0
    while True:
        chunk = stream.read1(65536)  # type: ignore[attr-defined]
        if not chunk:
            break
        total += len(chunk)
        if len(kept) < cap:
            kept += chunk[: cap - len(kept)]
    out["data"] = bytes(kept)
    out["total"] = total


def _snapshot() -> dict[str, tuple[int, int]]:
    seen: dict[str, tuple[int, int]] = {}
    for root, _dirs, files in os.walk(WORKSPACE):
        for name in files:
            path = os.path.join(root, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            seen[os.path.relpath(path, WORKSPACE)] = (st.st_size, st.st_mtime_ns)
    return seen


def _collect(
    before: dict[str, tuple[int, int]], max_files: int, max_total: int
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    files: list[dict[str, str]] = []
    skipped: list[dict[str, str]] = []
    total = 0
    for root, dirs, names in os.walk(WORKSPACE):  # os.walk does not follow symlinked folders
        dirs.sort()
        for name in sorted(names) + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, WORKSPACE)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                if rel not in before:
                    kind = "a symlink" if stat.S_ISLNK(st.st_mode) else "not a regular file"
                    skipped.append({"path": rel, "reason": kind})
                continue
            if before.get(rel) == (st.st_size, st.st_mtime_ns):
                continue  # an input, unchanged
            if len(files) >= max_files:
                skipped.append({"path": rel, "reason": f"more than {max_files} files"})
                continue
            if total + st.st_size > max_total:
                skipped.append({"path": rel, "reason": f"over the {max_total}-byte total"})
                continue
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            except OSError as e:
                skipped.append({"path": rel, "reason": f"unreadable: {e.strerror}"})
                continue
            with os.fdopen(fd, "rb") as f:
                data = f.read(max_total - total + 1)
            if total + len(data) > max_total:
                skipped.append({"path": rel, "reason": f"over the {max_total}-byte total"})
                continue
            total += len(data)
            files.append({"path": rel, "data": base64.b64encode(data).decode()})
    return files, skipped


def main() -> int:
    cfg = json.loads(sys.argv[1])
    argv = sys.argv[2:]
    _not_dumpable()
    if os.path.isdir(INPUTS):
        shutil.copytree(INPUTS, WORKSPACE, dirs_exist_ok=True)
    before = _snapshot()
    time.sleep(0.01)  # so a file rewritten at once gets another mtime
    started = time.monotonic()
    report: dict[str, object] = {"limits_hit": []}
    hit: list[str] = report["limits_hit"]  # type: ignore[assignment]
    try:
        child = subprocess.Popen(
            argv,
            cwd=WORKSPACE,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=lambda: _limit(cfg),  # single-threaded here
            start_new_session=True,
        )
    except OSError as e:
        report.update(exit_code=127, stdout="", stderr=base64.b64encode(str(e).encode()).decode())
        report.update(stdout_total=0, stderr_total=len(str(e)), files=[], skipped=[])
        print(json.dumps(report))
        return 0
    outs: dict[str, dict[str, object]] = {"stdout": {}, "stderr": {}}
    readers = [
        threading.Thread(target=_read_capped, args=(stream, cfg["output_bytes"], outs[k]))
        for k, stream in (("stdout", child.stdout), ("stderr", child.stderr))
    ]
    for r in readers:
        r.start()
    try:
        code = child.wait(timeout=cfg["wall_s"])
    except subprocess.TimeoutExpired:
        hit.append("wall_time")
        os.kill(-1, signal.SIGKILL)
        code = child.wait()
    # Whatever the program left running (background processes) ends here, before the files
    # are read; kill(-1) reaches every process of the sandbox but bwrap's init and us.
    with contextlib.suppress(ProcessLookupError):
        os.kill(-1, signal.SIGKILL)
    for r in readers:
        r.join(timeout=5)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime
    if code < 0:
        sig = -code
        report["signal"] = signal.Signals(sig).name if sig in signal.valid_signals() else str(sig)
        if sig in (signal.SIGXCPU, signal.SIGKILL) and cpu >= cfg["cpu_s"] - 0.5:
            hit.append("cpu_time")
        if sig == signal.SIGXFSZ:
            hit.append("file_size")
    err = outs["stderr"].get("data", b"")
    if isinstance(err, bytes) and (b"MemoryError" in err or b"Cannot allocate memory" in err):
        hit.append("memory")
    if isinstance(err, bytes) and b"File too large" in err:
        hit.append("file_size")  # Python ignores SIGXFSZ: the write fails with EFBIG
    if isinstance(err, bytes) and (
        b"Resource temporarily unavailable" in err or b"BlockingIOError" in err
    ):
        hit.append("processes")
    for k in ("stdout", "stderr"):
        total = int(outs[k].get("total", 0))  # type: ignore[call-overload]
        if total > cfg["output_bytes"]:
            hit.append("output")
        report[k] = base64.b64encode(outs[k].get("data", b"")).decode()  # type: ignore[arg-type]
        report[f"{k}_total"] = total
    files, skipped = _collect(before, cfg["max_files"], cfg["files_bytes"])
    report.update(
        exit_code=code,
        cpu_s=round(cpu, 3),
        wall_s=round(time.monotonic() - started, 3),
        files=files,
        skipped=skipped,
    )
    sys.stdout.write(json.dumps(report))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())

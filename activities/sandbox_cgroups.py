"""The code-execution sandbox's cgroups: the limits the kernel holds for the whole sandbox.

A pids cgroup caps how many processes a call may have (`AIOS_CODE_EXEC_PIDS_CGROUP`), where the
worker may create one; without it RLIMIT_NPROC does, which never applies to root (so
activities/sandbox.py refuses to run code as root with none). A memory cgroup caps the memory of
the whole sandbox, its processes' resident memory and the files it writes to its tmpfs
(`AIOS_CODE_EXEC_MEMORY_CGROUP`: cgroup v2 `memory.max`, or v1 `memory.limit_in_bytes`). Each is
made fresh for one call and removed after it; `oom_killed` and `processes_over` say afterwards
whether the sandbox ran into them.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger("aios.sandbox")


@contextlib.contextmanager
def pids_cgroup(setting: str, max_processes: int) -> Iterator[Path | None]:
    """A fresh pids cgroup limited to `max_processes`, or None where none can be made."""
    if setting == "off":
        yield None
        return
    candidates = [Path(setting)] if setting != "auto" else [Path("/sys/fs/cgroup/pids")]
    if setting == "auto":
        with contextlib.suppress(OSError):
            own = Path("/proc/self/cgroup").read_text().splitlines()
            v2 = next((line[3:] for line in own if line.startswith("0::")), None)
            if v2 is not None and (Path("/sys/fs/cgroup") / "cgroup.controllers").is_file():
                candidates.append(Path("/sys/fs/cgroup") / v2.lstrip("/"))
    made: Path | None = None
    for parent in candidates:
        child = parent / f"aios-sandbox-{uuid.uuid4().hex[:12]}"
        try:
            child.mkdir()
        except OSError:
            continue
        try:
            (child / "pids.max").write_text(str(max_processes))
            made = child
            break
        except OSError:
            with contextlib.suppress(OSError):
                child.rmdir()
    try:
        yield made
    finally:
        if made is not None:
            for _ in range(100):  # the kernel frees a cgroup once its last process is reaped
                try:
                    made.rmdir()
                    break
                except OSError:
                    time.sleep(0.02)
            else:
                log.warning("could not remove the sandbox cgroup %s", made)


def _own_cgroup(controller: str) -> Path | None:
    """This process's cgroup folder in the hierarchy that has `controller`: the v1 one mounted
    at /sys/fs/cgroup/<controller>, else the v2 one if it offers the controller."""
    root = Path("/sys/fs/cgroup")
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(",") and (root / controller / "cgroup.procs").exists():
            return root / controller / path.lstrip("/")
    v2 = next((line[3:] for line in lines if line.startswith("0::")), None)
    with contextlib.suppress(OSError):
        if v2 is not None and controller in (root / "cgroup.controllers").read_text().split():
            return root / v2.lstrip("/")
    return None


def _is_v2(folder: Path) -> bool:
    return (folder / "cgroup.controllers").is_file()


def _set_memory(folder: Path, limit: int) -> None:
    """The memory cap of a sandbox's cgroup, swap included (raises OSError where not allowed)."""
    if _is_v2(folder):
        (folder / "memory.max").write_text(str(limit))
        with contextlib.suppress(OSError):
            (folder / "memory.swap.max").write_text("0")
        with contextlib.suppress(OSError):  # out of memory: the whole sandbox ends at once
            (folder / "memory.oom.group").write_text("1")
    else:
        (folder / "memory.limit_in_bytes").write_text(str(limit))
        with contextlib.suppress(OSError):  # absent without swap accounting
            (folder / "memory.memsw.limit_in_bytes").write_text(str(limit))


def _remove(folder: Path) -> None:
    for _ in range(100):  # the kernel frees a cgroup once its last process is reaped
        try:
            folder.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)
    log.warning("could not remove the sandbox cgroup %s", folder)


@contextlib.contextmanager
def memory_cgroup(setting: str, limit: int, pids: Path | None) -> Iterator[Path | None]:
    """A memory cgroup capping the whole sandbox at `limit` bytes, or None where none can be
    made. On cgroup v2 a process is in one cgroup only: the pids cgroup is used when it is a v2
    one (and made no other)."""
    if setting == "off" or limit <= 0:
        yield None
        return
    if pids is not None and _is_v2(pids):
        try:
            _set_memory(pids, limit)
        except OSError:
            yield None
        else:
            yield pids
        return
    # By default under the worker's own memory cgroup, so the sandbox also counts against
    # whatever limit the worker itself runs under.
    parent = _own_cgroup("memory") if setting == "auto" else Path(setting)
    made: Path | None = None
    if parent is not None:
        child = parent / f"aios-sandbox-{uuid.uuid4().hex[:12]}"
        with contextlib.suppress(OSError):
            child.mkdir()
            try:
                _set_memory(child, limit)
                made = child
            except OSError:
                _remove(child)
    try:
        yield made
    finally:
        if made is not None:
            _remove(made)


def oom_killed(cgroup: Path | None) -> bool:
    """Whether the kernel killed a process of the sandbox at its memory cap."""
    if cgroup is None:
        return False
    for name in ("memory.events", "memory.oom_control"):  # v2, v1
        with contextlib.suppress(OSError, ValueError):
            for line in (cgroup / name).read_text().splitlines():
                key, _, count = line.partition(" ")
                if key == "oom_kill" and int(count) > 0:
                    return True
    return False


def processes_over(cgroup: Path | None) -> bool:
    if cgroup is None:
        return False
    with contextlib.suppress(OSError, ValueError):
        for line in (cgroup / "pids.events").read_text().splitlines():
            name, _, count = line.partition(" ")
            if name == "max" and int(count) > 0:
                return True
    return False

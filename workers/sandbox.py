"""Temporal's workflow sandbox as the AIOS worker runs it.

Two per-run costs of the SDK's sandbox, paid once per process instead (bench/README.md):

- The SDK runs every step into and out of the sandbox (creating a run, each activation, and the
  serialization context of each payload: 70-odd per 5-step run) by `exec` of a short code string,
  which Python compiles again on every call. The runner here hands `exec` the same strings
  compiled once (~0.8 ms of CPU per run).
- The sandbox imports the workflow modules afresh for every new run (that is its isolation: each
  run gets its own module objects). Python reads and unmarshals the module's bytecode each time
  (or, where no bytecode cache can be written, compiles the source). The workflow packages' code
  objects are kept instead: each run still executes the module body into a fresh module, from
  the code the worker loaded first (so a source file edited under a running worker cannot make
  new runs differ from the definitions the worker registered).

What runs, and under which restrictions, is unchanged. `_Instance` is the SDK's private class;
temporalio is pinned exactly (pyproject.toml), and tests/deploy/test_worker_queues.py checks the
SDK still runs its code through `_run_code`.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import sys
import threading
from collections.abc import Sequence
from types import CodeType, ModuleType
from typing import Any

from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions
from temporalio.worker.workflow_sandbox._runner import _Instance


@functools.lru_cache(maxsize=256)
def _compiled(code: str) -> CodeType:
    # A handful of distinct strings: the SDK's fixed ones and one import line per workflow type.
    return compile(code, "<string>", "exec")


class _CompiledCodeInstance(_Instance):
    def _run_code(self, code: str, **extra_globals: Any) -> None:
        # exec() takes a code object as it takes a string.
        super()._run_code(_compiled(code), **extra_globals)  # type: ignore[arg-type]


class _KeptCodeLoader(importlib.machinery.SourceFileLoader):
    """A source module's loader that gets its code object once per process. Code objects are
    immutable; executing one into a new module dict gives a module like a fresh import."""

    _codes: dict[str, CodeType] = {}
    _lock = threading.Lock()

    def get_code(self, fullname: str) -> CodeType:
        code = self._codes.get(self.path)
        if code is None:
            with self._lock:
                code = self._codes.get(self.path)
                if code is None:
                    loaded = super().get_code(fullname)
                    assert loaded is not None  # a source file always has code
                    code = self._codes[self.path] = loaded
        return code


class KeptCodeFinder(importlib.abc.MetaPathFinder):
    """Finds the modules of `packages` as Python would, loading them with `_KeptCodeLoader`."""

    def __init__(self, packages: Sequence[str]) -> None:
        self.packages = tuple(packages)

    def _ours(self, fullname: str) -> bool:
        return any(fullname == p or fullname.startswith(p + ".") for p in self.packages)

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if not self._ours(fullname):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        loader = spec.loader if spec else None
        if spec is not None and type(loader) is importlib.machinery.SourceFileLoader:
            spec.loader = _KeptCodeLoader(loader.name, loader.path)
        return spec


def keep_code_of(packages: Sequence[str]) -> None:
    """Load `packages`' modules from code objects kept for the process (first on
    `sys.meta_path`, once: a second call with the same packages changes nothing)."""
    wanted = tuple(packages)
    if not any(isinstance(f, KeptCodeFinder) and f.packages == wanted for f in sys.meta_path):
        sys.meta_path.insert(0, KeptCodeFinder(wanted))


class SandboxRunner(SandboxedWorkflowRunner):
    """`SandboxedWorkflowRunner` whose instances compile the SDK's code strings once, and whose
    re-imports of the workflow modules (`workflow_packages`) reuse their code objects."""

    def __init__(
        self, restrictions: SandboxRestrictions, workflow_packages: Sequence[str] = ("workflows",)
    ) -> None:
        super().__init__(restrictions=restrictions)
        keep_code_of(workflow_packages)

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return _CompiledCodeInstance(det, self.runner_class, self.restrictions)

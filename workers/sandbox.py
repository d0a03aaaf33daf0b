"""Temporal's workflow sandbox as the AIOS worker runs it.

The SDK runs every step into and out of the sandbox (creating a run, each activation, and the
serialization context of each payload: 70-odd per 5-step run) by `exec` of a short code string,
which Python compiles again on every call. The runner here hands `exec` the same strings compiled
once (~0.8 ms of CPU per run in the throughput benchmark, bench/README.md). What runs, and under
which restrictions, is unchanged.

`_Instance` is the SDK's private class; temporalio is pinned exactly (pyproject.toml), and
tests/deploy/test_worker_queues.py checks the SDK still runs its code through `_run_code`.
"""

from __future__ import annotations

import functools
from types import CodeType
from typing import Any

from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox._runner import _Instance


@functools.lru_cache(maxsize=256)
def _compiled(code: str) -> CodeType:
    # A handful of distinct strings: the SDK's fixed ones and one import line per workflow type.
    return compile(code, "<string>", "exec")


class _CompiledCodeInstance(_Instance):
    def _run_code(self, code: str, **extra_globals: Any) -> None:
        # exec() takes a code object as it takes a string.
        super()._run_code(_compiled(code), **extra_globals)  # type: ignore[arg-type]


class SandboxRunner(SandboxedWorkflowRunner):
    """`SandboxedWorkflowRunner` whose instances compile the SDK's code strings once."""

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return _CompiledCodeInstance(det, self.runner_class, self.restrictions)

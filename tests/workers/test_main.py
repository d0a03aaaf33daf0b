"""A worker refuses to start on a namespace without AIOS's search attributes, naming them and the
command that adds them (issue 22); allowed to, it adds them itself."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from aios.config import Settings
from aios.errors import ConfigurationError
from aios.temporal import ensure_search_attributes, missing_search_attributes
from tests.conftest import REPO

EVERY = [
    "AiosTenant=Keyword",
    "AiosUser=Keyword",
    "AiosStatus=Keyword",
    "AiosWaitingSince=Datetime",
]


async def bare_namespace(env: WorkflowEnvironment) -> str:
    """A fresh namespace on the session's server, without AIOS's search attributes."""
    name = f"bare-{uuid.uuid4().hex[:8]}"
    await env.client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=name, workflow_execution_retention_period=Duration(seconds=86_400)
        )
    )
    deadline = time.monotonic() + 30
    while True:  # the server's namespace cache takes a moment to know it
        try:
            await missing_search_attributes(env.client, name)
            return name
        except RPCError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def test_the_test_namespace_has_every_attribute(temporal_env: WorkflowEnvironment) -> None:
    assert await missing_search_attributes(temporal_env.client, "default") == []
    await ensure_search_attributes(temporal_env.client, "default", create=False)


async def test_a_bare_namespace_is_refused_by_name_or_given_its_attributes(
    temporal_env: WorkflowEnvironment,
) -> None:
    namespace = await bare_namespace(temporal_env)
    assert await missing_search_attributes(temporal_env.client, namespace) == EVERY
    with pytest.raises(ConfigurationError) as refused:
        await ensure_search_attributes(temporal_env.client, namespace, create=False)
    message = refused.value.message
    assert all(name.split("=")[0] in message for name in EVERY), message
    assert f"temporal operator search-attribute create --namespace {namespace}" in message
    assert "--name AiosWaitingSince --type Datetime" in message
    assert "AIOS_WORKER_CREATE_SEARCH_ATTRIBUTES" in message

    await ensure_search_attributes(temporal_env.client, namespace, create=True)
    assert await missing_search_attributes(temporal_env.client, namespace) == []


async def test_the_worker_process_exits_naming_what_is_missing(
    temporal_env: WorkflowEnvironment, settings: Settings, pg_url: str, tmp_path: Path
) -> None:
    namespace = await bare_namespace(temporal_env)
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "AIOS_DATABASE_URL": pg_url,
        "AIOS_TEMPORAL_ADDRESS": temporal_env.client.service_client.config.target_host,
        "AIOS_TEMPORAL_NAMESPACE": namespace,
        "AIOS_TASK_QUEUE": settings.task_queue,
        "AIOS_DATA_DIR": str(tmp_path),
        "AIOS_MODEL_FAST": settings.model_fast,
        "AIOS_MODEL_STRONG": settings.model_strong,
        "AIOS_LOCAL_MODEL_URL": settings.local_model_url or "",
    }
    worker = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "workers.main"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert worker.returncode == 2, worker.stderr[-3000:]
    assert "AiosStatus" in worker.stderr and "search-attribute create" in worker.stderr

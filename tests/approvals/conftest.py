"""The approval tests' time-skipping Temporal server: an approval's day-long timeout passes in
milliseconds."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from temporalio.testing import WorkflowEnvironment

from aios.artifacts import data_converter
from aios.temporal import register_search_attributes
from tests.conftest import ARTIFACT_THRESHOLD, _binary


@pytest.fixture(scope="module")
async def skipping_env(pool: asyncpg.Pool) -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=_binary("temporal-test-server"),
        data_converter=data_converter(pool, threshold_bytes=ARTIFACT_THRESHOLD),
    )
    await register_search_attributes(env.client, "default")
    yield env
    await env.shutdown()

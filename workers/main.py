"""The AIOS worker: builds the activity classes with their clients and hosts every workflow.

`Resources` holds what activities need (database pool, vector index, model router, tool registry);
the dev stack shares one `Resources` between the worker and the API in a single process.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
from qdrant_client import AsyncQdrantClient
from temporalio.client import Client
from temporalio.worker import Worker

from activities.llm.activities import LlmActivities
from activities.llm.router import ModelRouter
from activities.planning import PlanningActivities
from activities.rag import Embedder, RagActivities, VectorIndex
from activities.tools import build_registry
from activities.tools.registry import ToolActivities, ToolRegistry
from aios import db
from aios.config import Settings
from aios.stores import DocumentStore, open_qdrant
from aios.temporal import connect
from workflows.agent_run import AgentRunWorkflow
from workflows.ingest import IngestWorkflow

log = logging.getLogger(__name__)

WORKFLOWS = [AgentRunWorkflow, IngestWorkflow]


@dataclass
class Resources:
    settings: Settings
    pool: asyncpg.Pool
    qdrant: AsyncQdrantClient
    embedder: Embedder
    index: VectorIndex
    router: ModelRouter
    registry: ToolRegistry
    # A pool passed in belongs to the caller (the dev stack shares it with the API).
    owns_pool: bool = False

    @classmethod
    async def open(
        cls,
        settings: Settings,
        *,
        pool: asyncpg.Pool | None = None,
        embedder: Embedder | None = None,
    ) -> Resources:
        owns_pool = pool is None
        pool = pool or await db.connect(settings.require_database_url())
        qdrant = open_qdrant(settings)
        embedder = embedder or Embedder(settings.embedding_model)
        registry = build_registry(settings.tool_plugins)
        return cls(
            settings=settings,
            pool=pool,
            qdrant=qdrant,
            embedder=embedder,
            index=VectorIndex(
                qdrant, settings.collection, embedder, local_mode=settings.qdrant_url is None
            ),
            router=ModelRouter(settings.llm_config()),
            registry=registry,
            owns_pool=owns_pool,
        )

    async def aclose(self) -> None:
        await self.router.aclose()
        await self.qdrant.close()
        if self.owns_pool:
            await self.pool.close()


def build_worker(client: Client, resources: Resources, *, task_queue: str | None = None) -> Worker:
    tools = ToolActivities(resources.registry, resources.pool)
    rag = RagActivities(resources.index, DocumentStore(resources.pool))
    llm = LlmActivities(resources.router, resources.registry, resources.pool)
    return Worker(
        client,
        task_queue=task_queue or resources.settings.task_queue,
        workflows=WORKFLOWS,
        activities=[
            PlanningActivities(resources.registry, llm).plan_run,
            tools.invoke_tool,
            llm.complete,
            llm.agent_turn,
            rag.retrieve,
            rag.list_files,
            rag.ingest_file,
        ],
        # A worker killed mid-activity should not block shutdown of the others for long.
        graceful_shutdown_timeout=timedelta(seconds=5),
    )


async def run_worker(settings: Settings) -> None:
    """`aios worker`: one worker process against an existing Temporal, PostgreSQL and Qdrant."""
    resources = await Resources.open(settings)
    try:
        client = await connect(settings, resources.pool)
        worker = build_worker(client, resources)
        log.info(
            "worker polling task queue %s on %s", settings.task_queue, settings.temporal_target
        )
        await worker.run()
    finally:
        await resources.aclose()


def main() -> None:
    """`python -m workers.main`: what `aios worker` runs (the container image's worker command)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("temporalio.activity").setLevel(logging.ERROR)
    asyncio.run(run_worker(Settings()))


if __name__ == "__main__":
    main()

"""The composition root: every long-lived client and service of one process, opened in one place.

Three kinds of process assemble AIOS: the API (`api/app.py`), a worker (`workers/main.py`) and
the dev stack (`cli/devstack.py`, which runs both in one process and shares one `Services`
between them). Each calls `open_services` with what its kind needs (`API`, `WORKER`) and the parts
it already has; `Services.aclose` closes what that call opened, never a part passed in.

It lives beside the services it holds (the tool registry, the knowledge index, memory, the model
router) so that both the API and the workers may import it (pyproject.toml's layers).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from dataclasses import dataclass, field
from typing import Literal

import asyncpg
from temporalio.client import Client

from activities.knowledge import KnowledgeIndex, TextEmbedder, open_knowledge
from activities.llm.router import ModelRouter
from activities.memory import MemoryService, open_memory
from activities.plan_checks import load_skills
from activities.tools import ToolRegistry, add_mcp_tools, build_registry
from aios import db
from aios.config import Settings
from aios.errors import TransientError
from aios.skills import SkillCatalog
from aios.stores import VectorStore, open_vectors
from aios.temporal import connect


@dataclass(frozen=True)
class Needs:
    """What a kind of process opens when it is not given it."""

    # A Temporal client (over the pool's artifact store).
    temporal: bool = True
    # The vector store, and with it the knowledge index and semantic memory: `always`, or only
    # against a Qdrant server (`server`: embedded Qdrant's files belong to the worker process, so
    # an API process of its own goes without search rather than fight over the lock).
    vectors: Literal["always", "server"] = "always"
    # The model router (only activities call models).
    router: bool = True
    # How long to keep trying to reach Temporal (the dev stack's server is still starting).
    temporal_wait_s: float = 0.0


# The API reads the registry for its schemas (plans are validated before a run starts) and never
# executes a tool or calls a model.
API = Needs(temporal=True, vectors="server", router=False)
WORKER = Needs(temporal=True, vectors="always", router=True)


@dataclass
class Services:
    """One process's clients and services. Parts a kind of process does without are None."""

    settings: Settings
    pool: asyncpg.Pool
    registry: ToolRegistry
    skills: SkillCatalog
    temporal: Client | None = None
    vectors: VectorStore | None = None
    embedder: TextEmbedder | None = None
    knowledge: KnowledgeIndex | None = None
    memory: MemoryService | None = None
    router: ModelRouter | None = None
    # What `open_services` opened, closed by `aclose` in reverse order.
    opened: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack, repr=False)

    def parts(self) -> Parts:
        """Every part, as `open_services` takes them: to build another process's view over the
        same clients (the dev stack's API over its worker's services)."""
        return Parts(
            pool=self.pool,
            registry=self.registry,
            skills=self.skills,
            temporal=self.temporal,
            vectors=self.vectors,
            embedder=self.embedder,
            knowledge=self.knowledge,
            memory=self.memory,
            router=self.router,
        )

    async def aclose(self) -> None:
        await self.opened.aclose()


@dataclass
class Parts:
    """Parts a process already has; None: open it if the process needs it."""

    pool: asyncpg.Pool | None = None
    registry: ToolRegistry | None = None
    skills: SkillCatalog | None = None
    temporal: Client | None = None
    vectors: VectorStore | None = None
    embedder: TextEmbedder | None = None
    knowledge: KnowledgeIndex | None = None
    memory: MemoryService | None = None
    router: ModelRouter | None = None

    def over(self, other: Parts) -> Parts:
        """These parts, with `other`'s where these have none."""
        mine = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        theirs = {f.name: getattr(other, f.name) for f in dataclasses.fields(other)}
        return Parts(**{k: v if v is not None else theirs[k] for k, v in mine.items()})


async def open_services(settings: Settings, needs: Needs, given: Parts | None = None) -> Services:
    """The services a process of this kind needs: those given, and the missing ones opened as
    the settings describe them. On failure, whatever was opened is closed again."""
    given = given or Parts()
    opened = contextlib.AsyncExitStack()
    try:
        registry = given.registry
        if registry is None:
            registry = build_registry(
                settings.tools.tool_plugins, settings.tools.tool_files, settings
            )
            await add_mcp_tools(registry, settings.tools.mcp_servers)
        skills = given.skills or load_skills(settings.tools.skills_dir, registry)
        pool = given.pool
        if pool is None:
            pool = await db.connect(settings.stores.require_database_url())
            opened.push_async_callback(db.close, pool)
        temporal = given.temporal
        if temporal is None and needs.temporal:
            temporal = await _connect(settings, pool, needs.temporal_wait_s)
        vectors = given.vectors
        if vectors is None and (needs.vectors == "always" or settings.stores.qdrant_url):
            vectors = open_vectors(settings)
            opened.push_async_callback(vectors.close)
        knowledge, embedder = given.knowledge, given.embedder
        if knowledge is None and vectors is not None:
            knowledge = open_knowledge(settings, vectors, embedder, pool)
        if embedder is None and knowledge is not None:
            embedder = knowledge.embedder
        memory = given.memory
        if memory is None and vectors is not None and embedder is not None:
            memory = open_memory(settings, pool, vectors, embedder)
        router = given.router
        if router is None and needs.router:
            router = ModelRouter(settings.llm.llm_config())
            opened.push_async_callback(router.aclose)
    except BaseException:
        await opened.aclose()
        raise
    return Services(
        settings=settings,
        pool=pool,
        registry=registry,
        skills=skills,
        temporal=temporal,
        vectors=vectors,
        embedder=embedder,
        knowledge=knowledge,
        memory=memory,
        router=router,
        opened=opened,
    )


async def _connect(settings: Settings, pool: asyncpg.Pool, wait_s: float) -> Client:
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return await connect(settings, pool)
        except TransientError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)

"""Dependencies as `Annotated` aliases so route signatures read like prose."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Annotated

import asyncpg
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from temporalio.client import Client

from activities.knowledge import KnowledgeIndex
from activities.memory import MemoryService
from activities.tools import ToolRegistry
from aios.config import Settings
from aios.errors import ConfigurationError, Unauthorized
from aios.skills import SkillCatalog
from aios.stores.deltas import DeltaHub
from aios.stores.vectors import VectorStore


@dataclass(frozen=True)
class Principal:
    """Who is calling: every query and every started workflow is scoped to the tenant."""

    tenant: str
    user_id: str
    roles: frozenset[str] = field(default_factory=frozenset)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _temporal(request: Request) -> Client:
    client: Client = request.app.state.temporal
    return client


def _pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.pool
    return pool


def _deltas(request: Request) -> DeltaHub:
    hub: DeltaHub = request.app.state.deltas
    return hub


def _skills(request: Request) -> SkillCatalog:
    skills: SkillCatalog = request.app.state.skills
    return skills


def _registry(request: Request) -> ToolRegistry:
    registry: ToolRegistry = request.app.state.registry
    return registry


def _vectors(request: Request) -> VectorStore | None:
    client: VectorStore | None = request.app.state.vectors
    return client


def _knowledge(request: Request) -> KnowledgeIndex:
    """The knowledge index, or 503 when this API process cannot open it (embedded Qdrant is
    held by the process running the workers)."""
    index: KnowledgeIndex | None = request.app.state.knowledge
    if index is None:
        raise ConfigurationError(
            "documents and search need the knowledge index, which this API process cannot open: "
            "embedded Qdrant (Edge) is held by the worker process. Run `aios dev` (one process), "
            "or "
            "point the API and the workers at a Qdrant server with AIOS_QDRANT_URL"
        )
    return index


def _memory(request: Request) -> MemoryService:
    memory: MemoryService | None = request.app.state.memory
    if memory is None:
        raise ConfigurationError(
            "memory needs the vector index, which this API process cannot open: run `aios dev` "
            "(one process), or point the API and the workers at a Qdrant server (AIOS_QDRANT_URL)"
        )
    return memory


_bearer = HTTPBearer(auto_error=False)


def _principal(
    settings: Annotated[Settings, Depends(_settings)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The development key maps to tenant `default`; the gateway's key store replaces this."""
    if credentials is None:
        raise Unauthorized("send `Authorization: Bearer <api key>`; `aios dev` prints a key")
    if settings.dev_api_key is None:
        raise Unauthorized("no API key is configured on this server: set AIOS_DEV_API_KEY")
    expected = settings.dev_api_key.get_secret_value().encode()
    if not hmac.compare_digest(credentials.credentials.encode(), expected):
        raise Unauthorized("the API key is not valid")
    return Principal(tenant="default", user_id="dev", roles=frozenset({"admin"}))


SettingsDep = Annotated[Settings, Depends(_settings)]
TemporalDep = Annotated[Client, Depends(_temporal)]
DbDep = Annotated[asyncpg.Pool, Depends(_pool)]
VectorsDep = Annotated[VectorStore | None, Depends(_vectors)]
KnowledgeDep = Annotated[KnowledgeIndex, Depends(_knowledge)]
MemoryDep = Annotated[MemoryService, Depends(_memory)]
PrincipalDep = Annotated[Principal, Depends(_principal)]
RegistryDep = Annotated[ToolRegistry, Depends(_registry)]
SkillsDep = Annotated[SkillCatalog, Depends(_skills)]
DeltasDep = Annotated[DeltaHub, Depends(_deltas)]


def _maybe_principal(
    settings: Annotated[Settings, Depends(_settings)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal | None:
    """The caller when it sent a valid key; None for anonymous callers (health checks)."""
    try:
        return _principal(settings, credentials)
    except Unauthorized:
        return None


MaybePrincipalDep = Annotated[Principal | None, Depends(_maybe_principal)]

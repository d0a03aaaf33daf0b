"""Tools: a name, a description, a JSON schema for arguments, declared side effects and approval.

A tool is an async function of (validated arguments, context). Tools with side effects receive an
idempotency key that stays the same across retries and worker restarts, and must honour it
(`ToolContext.once` does the bookkeeping), so a retried step never repeats an effect.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import asyncpg
from pydantic import BaseModel
from temporalio import activity

from activities.common import classified, parse_args
from aios.errors import ConfigurationError, NotFound, TransientError
from aios.models import StepInput, StepResult, ToolSpec
from aios.stores import Effect, ToolEffectStore
from aios.vocabulary import Activity

if TYPE_CHECKING:  # only for annotations: the API imports the registry without these layers
    from activities.knowledge import KnowledgeIndex
    from activities.memory import MemoryService


@dataclass(frozen=True)
class ToolServices:
    """The parts of AIOS that built-in tools use (the worker fills them in)."""

    knowledge: KnowledgeIndex | None = None
    memory: MemoryService | None = None


@dataclass
class ToolContext:
    """What a tool knows of the step calling it. `pool` is there for plugin tools that keep their
    own tables; built-in tools go through the stores in `aios.stores` and `services`."""

    tenant: str
    user_id: str
    run_id: str
    step_id: str
    idempotency_key: str
    pool: asyncpg.Pool
    services: ToolServices = field(default_factory=ToolServices)

    @property
    def knowledge(self) -> KnowledgeIndex:
        if self.services.knowledge is None:
            raise ConfigurationError("this worker has no knowledge index")
        return self.services.knowledge

    @property
    def memory(self) -> MemoryService:
        if self.services.memory is None:
            raise ConfigurationError("this worker has no memory service")
        return self.services.memory

    async def once(self, tool: str, effect: Effect) -> dict[str, Any]:
        """Run `effect` at most once per idempotency key (see `ToolEffectStore.once`)."""
        return await ToolEffectStore(self.pool).once(
            self.idempotency_key, tool, self.tenant, effect
        )


ToolFn = Callable[[Any, ToolContext], Awaitable[Any]]


@dataclass
class Tool:
    name: str
    description: str
    args_model: type[BaseModel]
    fn: ToolFn
    side_effects: bool = False
    requires_approval: bool = False
    # The longest one call may take; a slower call fails (and is retried per the step's policy).
    timeout_s: float = 60.0

    def spec(self) -> ToolSpec:
        return ToolSpec(
            name=self.name,
            description=self.description,
            input_schema=self.args_model.model_json_schema(),
            side_effects=self.side_effects,
            requires_approval=self.requires_approval,
            timeout_s=self.timeout_s,
        )


class ToolRegistry:
    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}

    def register(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise ConfigurationError(f"tool {tool.name!r} is registered twice")
        self._tools[tool.name] = tool

    def get(self, name: str) -> Tool:
        try:
            return self._tools[name]
        except KeyError:
            raise NotFound(
                f"unknown tool {name!r}; known tools: {', '.join(sorted(self._tools)) or 'none'}"
            ) from None

    def names(self) -> set[str]:
        return set(self._tools)

    def specs(self) -> list[ToolSpec]:
        return [t.spec() for t in sorted(self._tools.values(), key=lambda t: t.name)]

    def requiring_approval(self) -> list[str]:
        return sorted(t.name for t in self._tools.values() if t.requires_approval)

    def with_side_effects(self) -> list[str]:
        return sorted(t.name for t in self._tools.values() if t.side_effects)

    def load_plugins(self, modules: str) -> None:
        """`pkg.mod,other.mod`: each module's `register(registry)` adds its tools."""
        for module_name in filter(None, (m.strip() for m in modules.split(","))):
            try:
                module = importlib.import_module(module_name)
            except ImportError as e:
                raise ConfigurationError(
                    f"tool plugin {module_name!r} cannot be imported: {e}"
                ) from e
            register = getattr(module, "register", None)
            if not callable(register):
                raise ConfigurationError(f"tool plugin {module_name!r} has no register(registry)")
            register(self)


class ToolActivities:
    def __init__(
        self, registry: ToolRegistry, pool: asyncpg.Pool, services: ToolServices | None = None
    ) -> None:
        self._registry = registry
        self._pool = pool
        self._services = services or ToolServices()

    @activity.defn(name=Activity.INVOKE_TOOL)
    @classified
    async def invoke_tool(self, step: StepInput) -> StepResult:
        tool = self._registry.get(step.tool or "")
        args = parse_args(tool.args_model, step.args, f"tool {tool.name!r}")
        ctx = ToolContext(
            tenant=step.tenant,
            user_id=step.user_id,
            run_id=step.run_id,
            step_id=step.step_id,
            idempotency_key=step.idempotency_key,
            pool=self._pool,
            services=self._services,
        )
        try:
            async with asyncio.timeout(tool.timeout_s):
                output = await tool.fn(args, ctx)
        except TimeoutError:
            raise TransientError(
                f"tool {tool.name!r} did not finish within its timeout of {tool.timeout_s:g}s"
            ) from None
        return StepResult(output=output, attempt=activity.info().attempt)

"""Tools: a name, a description, a JSON schema for arguments, declared side effects and approval.

A tool is an async function of (validated arguments, context). Tools with side effects receive an
idempotency key that stays the same across retries and worker restarts, and must honour it
(`ToolContext.once` does the bookkeeping), so a retried step never repeats an effect.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from pydantic import BaseModel
from temporalio import activity

from activities.common import classified, parse_args
from aios.activity_names import Activity
from aios.errors import ConfigurationError, NotFound
from aios.models import StepInput, StepResult, ToolSpec


@dataclass
class ToolContext:
    tenant: str
    user_id: str
    run_id: str
    step_id: str
    idempotency_key: str
    pool: asyncpg.Pool

    async def once(
        self, tool: str, effect: Callable[[asyncpg.Connection], Awaitable[dict[str, Any]]]
    ) -> dict[str, Any]:
        """Run `effect` at most once per idempotency key, in one transaction with the record of
        it; a repeat returns the first result without running the effect again."""
        async with self.pool.acquire() as conn, conn.transaction():
            claimed = await conn.fetchval(
                "INSERT INTO tool_effects (idempotency_key, tool, tenant, result)"
                " VALUES ($1, $2, $3, 'null'::jsonb) ON CONFLICT DO NOTHING RETURNING 1",
                self.idempotency_key,
                tool,
                self.tenant,
            )
            if claimed is None:
                previous = await conn.fetchval(
                    "SELECT result FROM tool_effects WHERE idempotency_key = $1",
                    self.idempotency_key,
                )
                result: dict[str, Any] = json.loads(previous)
                return {**result, "replayed": True}
            result = await effect(conn)
            await conn.execute(
                "UPDATE tool_effects SET result = $2::jsonb WHERE idempotency_key = $1",
                self.idempotency_key,
                json.dumps(result),
            )
            return result


ToolFn = Callable[[Any, ToolContext], Awaitable[Any]]


@dataclass
class Tool:
    name: str
    description: str
    args_model: type[BaseModel]
    fn: ToolFn
    side_effects: bool = False
    requires_approval: bool = False
    timeout_s: float = 60.0
    permissions: list[str] = field(default_factory=list)

    def spec(self) -> ToolSpec:
        return ToolSpec(
            name=self.name,
            description=self.description,
            input_schema=self.args_model.model_json_schema(),
            side_effects=self.side_effects,
            requires_approval=self.requires_approval,
            timeout_s=self.timeout_s,
            permissions=self.permissions,
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
    def __init__(self, registry: ToolRegistry, pool: asyncpg.Pool) -> None:
        self._registry = registry
        self._pool = pool

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
        )
        output = await tool.fn(args, ctx)
        return StepResult(output=output, attempt=activity.info().attempt)

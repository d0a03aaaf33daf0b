"""Tools: a name, a description, a JSON schema for arguments, declared side effects and approval.

A tool is an async function of (validated arguments, context). Tools with side effects receive an
idempotency key that stays the same across retries and worker restarts, and must honour it
(`ToolContext.once` does the bookkeeping), so a retried step never repeats an effect.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import typing
from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import asyncpg
from pydantic import BaseModel

from aios.config import Settings
from aios.errors import ConfigurationError, NotFound
from aios.models import SideEffects, ToolSpec
from aios.plan import RetrySpec
from aios.stores import Effect, ToolEffectStore

if TYPE_CHECKING:  # only for annotations: the API imports the registry without these layers
    from activities.knowledge import KnowledgeIndex
    from activities.llm.caller import SpendAccount
    from activities.memory import MemoryService


# Why a tool cannot run for a tenant under these settings (web search with no provider configured),
# or None when it can: planners and chat are not offered a tool that would only fail.
Availability = Callable[[Settings, str], "str | None"]
# The hosts a call of a tool that reaches outside would send its arguments to (the page's host,
# the search provider's, the MCP server's): checked against the tenant's allowed domains once
# untrusted content is in the caller's context (aios/sources.py).
Egress = Callable[[Any, "ToolContext"], list[str]]


# The tools of the tenant an API request or an activity serves (its own MCP servers'), seen
# through every registry for the rest of that task: set once per task, where the tenant becomes
# known (api/deps.py, the planning activity). Each request and each activity is a task of its own.
_TENANT_TOOLS: ContextVar[dict[str, Tool] | None] = ContextVar("aios_tenant_tools", default=None)


def use_tenant_tools(tools: Iterable[Tool]) -> None:
    """From now on in this task, registries also list and find these tools (the registry's own
    win on a clash of names)."""
    _TENANT_TOOLS.set({t.name: t for t in tools})


@dataclass(frozen=True)
class ToolServices:
    """The parts of AIOS that built-in tools use (the worker fills them in)."""

    knowledge: KnowledgeIndex | None = None
    memory: MemoryService | None = None
    settings: Settings | None = None


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
    # The caller's roles (what a tenant's sources and servers restricted to roles check); None:
    # an unrestricted caller (aios.sources.may_use).
    roles: list[str] | None = None
    # A person said that a call left in doubt did not happen: send it once more.
    resend_in_doubt: bool = False
    # Where a paid call of the tool (a web search) is reserved and settled: the step's run, user
    # and tenant in the spend ledger (`charged`). None: outside an activity, nothing is charged.
    spend: SpendAccount | None = None

    @property
    def knowledge(self) -> KnowledgeIndex:
        if self.services.knowledge is None:
            raise ConfigurationError("this worker has no knowledge index")
        return self.services.knowledge

    @property
    def settings(self) -> Settings:
        if self.services.settings is None:
            raise ConfigurationError("this worker passed no settings to its tools")
        return self.services.settings

    @property
    def memory(self) -> MemoryService:
        if self.services.memory is None:
            raise ConfigurationError("this worker has no memory service")
        return self.services.memory

    def charged(self, what: str, usd: float) -> contextlib.AbstractAsyncContextManager[None]:
        """Around a call that costs `usd` at a provider: reserved in the spend ledger before it
        is made (over a cap: BudgetExceeded, which stops the run with the reason), settled at its
        price after, released when it fails. Free calls are not entries."""
        if self.spend is None or usd <= 0:
            return contextlib.nullcontext()
        return self.spend.charged(what, usd)

    async def once(self, tool: str, effect: Effect) -> dict[str, Any]:
        """Run `effect` at most once per idempotency key (see `ToolEffectStore.once`)."""
        return await ToolEffectStore(self.pool).once(
            self.idempotency_key, tool, self.tenant, effect
        )


ToolFn = Callable[[Any, ToolContext], Awaitable[Any]]


@dataclass
class Tool:
    """A tool: `fn(args, ctx)` with `args` validated against `args_model` first."""

    name: str
    description: str
    args_model: type[BaseModel]
    fn: ToolFn
    output_model: type[BaseModel] | None = None
    side_effects: SideEffects = "none"
    requires_approval: bool = False
    roles: frozenset[str] = frozenset()
    # The longest one call may take; a slower call fails (and is retried per the retry policy).
    timeout_s: float = 60.0
    # Used when the step names no policy; None: the defaults for the tool's side effects.
    retry: RetrySpec | None = None
    # Output AIOS itself produced (a sum, a confirmation). Anything else (pages, rows, files,
    # search results, remote answers) is untrusted: scanned, and what derives from it needs
    # approval before any side effect.
    trusted_output: bool = False
    # The JSON schema shown for the arguments when it is not the args model's own (MCP tools,
    # which validate against their server's schema).
    input_schema: dict[str, Any] | None = None
    unavailable: Availability | None = None
    egress: Egress | None = None
    # The JSON schemas of the argument and output models, made once: pydantic builds them anew
    # on every call (milliseconds a tool, and every chat round shows the model its tools).
    _made_schemas: tuple[dict[str, Any], dict[str, Any] | None] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @property
    def writes(self) -> bool:
        return self.side_effects == "writes"

    def _schemas(self) -> tuple[dict[str, Any], dict[str, Any] | None]:
        if self._made_schemas is None:
            self._made_schemas = (
                self.input_schema or self.args_model.model_json_schema(),
                self.output_model.model_json_schema() if self.output_model else None,
            )
        return self._made_schemas

    def allows(self, roles: Iterable[str]) -> bool:
        """Whether a caller with these roles may use the tool (`admin` may use every tool)."""
        granted = set(roles)
        return not self.roles or "admin" in granted or bool(self.roles & granted)

    def spec(self) -> ToolSpec:
        input_schema, output_schema = self._schemas()
        return ToolSpec(
            name=self.name,
            description=self.description,
            input_schema=input_schema,
            output_schema=output_schema,
            side_effects=self.side_effects,
            requires_approval=self.requires_approval,
            roles=sorted(self.roles),
            timeout_s=self.timeout_s,
        )


def tool(
    *,
    name: str | None = None,
    side_effects: SideEffects = "none",
    requires_approval: bool = False,
    roles: Iterable[str] = (),
    timeout_s: float = 60.0,
    retry: RetrySpec | None = None,
    trusted_output: bool = False,
    unavailable: Availability | None = None,
    egress: Egress | None = None,
) -> Callable[[ToolFn], Tool]:
    """Make a tool of an async function `fn(args: ArgsModel, ctx: ToolContext) -> Output`: the
    arguments model and the output model come from its annotations, the description from its
    docstring, the name from its name.

        @tool(side_effects="writes", requires_approval=True)
        async def send_email(args: SendEmailArgs, ctx: ToolContext) -> SentEmail:
            \"\"\"Send an email.\"\"\"
    """

    def make(fn: ToolFn) -> Tool:
        hints = typing.get_type_hints(fn)
        params = list(inspect.signature(fn).parameters)
        args_model = hints.get(params[0]) if params else None
        if not (isinstance(args_model, type) and issubclass(args_model, BaseModel)):
            raise ConfigurationError(
                f"tool {fn.__name__!r}: its first parameter must be annotated with a pydantic "
                "model (the arguments)"
            )
        output = hints.get("return")
        output_model = (
            output if isinstance(output, type) and issubclass(output, BaseModel) else None
        )
        description = inspect.cleandoc(fn.__doc__ or "").split("\n\n", 1)[0].replace("\n", " ")
        if not description:
            raise ConfigurationError(f"tool {fn.__name__!r} needs a docstring (its description)")
        return Tool(
            name=name or fn.__name__,
            description=description,
            args_model=args_model,
            fn=fn,
            output_model=output_model,
            side_effects=side_effects,
            requires_approval=requires_approval,
            roles=frozenset(roles),
            timeout_s=timeout_s,
            retry=retry,
            trusted_output=trusted_output,
            unavailable=unavailable,
            egress=egress,
        )

    return make


class ToolRegistry:
    """The one place planners, agent steps, the API and the worker find tools."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._tools: dict[str, Tool] = {}
        # What decides whether a tool can run (its provider configured); without settings,
        # every tool counts as available.
        self._settings = settings

    def _visible(self) -> dict[str, Tool]:
        """The registry's tools, and those of the tenant being served (`use_tenant_tools`)."""
        tenant = _TENANT_TOOLS.get()
        return {**tenant, **self._tools} if tenant else self._tools

    def register(self, *tools: Tool) -> None:
        for new in tools:
            if new.name in self._tools:
                raise ConfigurationError(f"tool {new.name!r} is registered twice")
            self._tools[new.name] = new

    def get(self, name: str) -> Tool:
        try:
            return self._visible()[name]
        except KeyError:
            raise NotFound(
                f"unknown tool {name!r}; known tools: "
                f"{', '.join(sorted(self._visible())) or 'none'}"
            ) from None

    def names(self) -> set[str]:
        return set(self._visible())

    def specs(
        self, roles: Iterable[str] | None = None, *, tenant: str | None = None
    ) -> list[ToolSpec]:
        """Every tool, or those a caller with `roles` may use; with `tenant`, only those that
        can run for it (what a planner is offered)."""
        tools = sorted(self._visible().values(), key=lambda t: t.name)
        return [
            t.spec()
            for t in tools
            if (roles is None or t.allows(roles)) and self._available(t, tenant)
        ]

    def without_side_effects(
        self, roles: Iterable[str] | None = None, *, tenant: str | None = None
    ) -> list[str]:
        """Tools a caller with `roles` may use that write nothing and need no approval: what a
        chat turn may call on its own (anything else needs a run, where a person can approve).
        With `tenant`, only those that can run for it."""
        return sorted(
            t.name
            for t in self._visible().values()
            if not t.writes
            and not t.requires_approval
            and (roles is None or t.allows(roles))
            and self._available(t, tenant)
        )

    def why_unavailable(self, name: str, tenant: str) -> str | None:
        """Why tool `name` cannot run for `tenant` (its provider is not configured), or None."""
        found = self._visible().get(name)
        if found is None or found.unavailable is None or self._settings is None:
            return None
        return found.unavailable(self._settings, tenant)

    def _available(self, found: Tool, tenant: str | None) -> bool:
        return tenant is None or self.why_unavailable(found.name, tenant) is None

    def requiring_approval(self) -> list[str]:
        return sorted(t.name for t in self._visible().values() if t.requires_approval)

    def with_side_effects(self) -> list[str]:
        """Tools that write outside AIOS."""
        return sorted(t.name for t in self._visible().values() if t.writes)

    def retry_policies(self) -> dict[str, RetrySpec]:
        """The tools' own retry policies (for steps that name none)."""
        return {t.name: t.retry for t in self._visible().values() if t.retry is not None}

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

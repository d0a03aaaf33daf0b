"""The tool-calling activity (`aios.invoke_tool`): a plan's tool step, or an agent's tool call,
run with its validated arguments under the step's idempotency key, its timeout and its spend
account. A tainted caller's call that would send data outside is checked first (the egress
check: the tenant's allowed domains, and no private data in what leaves). The tools themselves
and their registry are activities/tools/registry.py; a tenant's own MCP tools,
activities/tools/mcp_tools.py."""

from __future__ import annotations

import asyncio

import asyncpg
from pydantic import BaseModel
from temporalio import activity

from activities.common import classified, parse_args
from activities.knowledge.index import SearchMode
from activities.llm.caller import SpendAccount, activity_account
from activities.tools.mcp_tools import tenant_tool
from activities.tools.registry import Tool, ToolContext, ToolRegistry, ToolServices
from aios import telemetry
from aios.errors import PolicyDenied, TransientError
from aios.guardrails import outgoing_text, private_data_in, scan_untrusted, strings_in
from aios.models import StepInput, StepResult
from aios.sources import EgressNotAllowed, host_allowed
from aios.stores.ledger import LedgerStore
from aios.stores.memory import UserFactStore
from aios.stores.sources import SourceStore
from aios.vocabulary import Activity

# Looking for the tenant's documents in what such a call would send: the passages a keyword search
# for its first PRIVATE_QUERY_CHARS characters finds.
PRIVATE_QUERY_CHARS = 1000
PRIVATE_PASSAGES = 5


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
        tool = await self._tool_for(step)
        args = parse_args(tool.args_model, step.args, f"tool {tool.name!r}")
        ctx = ToolContext(
            tenant=step.tenant,
            user_id=step.user_id,
            run_id=step.run_id,
            step_id=step.step_id,
            idempotency_key=step.idempotency_key,
            pool=self._pool,
            services=self._services,
            roles=step.roles,
            resend_in_doubt=step.resend_in_doubt,
            spend=self._spend(step),
        )
        if step.tainted and tool.egress is not None and not step.egress_approved:
            await self._check_egress(tool, args, ctx, any_host=step.egress_any_host)
        outcome = "error"
        with telemetry.span(f"tool {tool.name}", **{"aios.tool": tool.name}) as current:
            try:
                async with asyncio.timeout(tool.timeout_s):
                    output = await tool.fn(args, ctx)
                outcome = "ok"
            except TimeoutError:
                outcome = "timeout"
                raise TransientError(
                    f"tool {tool.name!r} did not finish within its timeout of {tool.timeout_s:g}s"
                ) from None
            finally:
                current.set_attribute("aios.tool.outcome", outcome)
                telemetry.TOOL_CALLS.labels(tool.name, outcome).inc()
        if isinstance(output, BaseModel):
            output = output.model_dump(mode="json")
        if tool.trusted_output:
            return StepResult(output=output, attempt=activity.info().attempt)
        source = f"tool {tool.name}"
        return StepResult(
            output=output,
            untrusted=True,
            findings=scan_untrusted((source, text) for text in strings_in(output)),
            attempt=activity.info().attempt,
        )

    def _spend(self, step: StepInput) -> SpendAccount:
        return activity_account(
            LedgerStore(self._pool), step.budget, tenant=step.tenant, user_id=step.user_id
        )

    async def _check_egress(
        self, tool: Tool, args: BaseModel, ctx: ToolContext, *, any_host: bool = False
    ) -> None:
        """Untrusted content is in the caller's context: the call may reach only the tenant's
        allowed domains, and may carry none of the user's private data (their facts, text of
        the tenant's documents, secrets and personal data) even there; anything else is
        EgressNotAllowed (a run asks a person, a chat is refused). `any_host`: only what the
        call carries is checked (a research step's searches, which go to the open web)."""
        if tool.egress is None:
            return
        hosts = tool.egress(args, ctx)
        allowed = (await SourceStore(self._pool).egress(ctx.tenant)).domains
        outside = [] if any_host else sorted({h for h in hosts if not host_allowed(h, allowed)})
        private = await self._private_data(args, ctx)
        if not outside and not private:
            return
        where = ", ".join(sorted(set(hosts))) or "its server"
        if private:
            message = (
                f"{tool.name} would send the user's private data ({'; '.join(private)}) to "
                f"{where} after untrusted content entered the context"
            )
            if outside:
                message += (
                    f", and {', '.join(outside)} is outside the tenant's allowed domains "
                    f"({', '.join(allowed) or 'none set'})"
                )
            message += ": a person must approve the call"
        else:
            message = (
                f"{tool.name} would send data to {', '.join(outside)} after untrusted content "
                "entered the context; that is outside the tenant's allowed domains "
                f"({', '.join(allowed) or 'none set'}): a person must approve the call, or an "
                "admin adds the domain (PUT /v1/egress)"
            )
        raise EgressNotAllowed(
            message, details={"tool": tool.name, "hosts": outside, "private": private}
        )

    async def _private_data(self, args: BaseModel, ctx: ToolContext) -> list[str]:
        """What of the user's private data the call's arguments carry (aios.guardrails
        `private_data_in`): the user's live facts, and the tenant's documents that a keyword
        search for the arguments finds (keyword search calls no paid model)."""
        outgoing = outgoing_text(strings_in(args.model_dump(mode="json")))
        if not outgoing.strip():
            return []
        facts = await UserFactStore(self._pool).live(ctx.tenant, ctx.user_id)
        documents: list[tuple[str, str]] = []
        if self._services.knowledge is not None:
            passages = await self._services.knowledge.search(
                ctx.tenant, outgoing[:PRIVATE_QUERY_CHARS], PRIVATE_PASSAGES, SearchMode.KEYWORD
            )
            documents = [(p.title or p.source, p.text) for p in passages]
        # Facts, not preferences: how the user likes answers ("concise") says little about
        # them, and common words would stop harmless calls.
        known = {f.key: f.value for f in facts if f.kind == "fact"}
        return private_data_in(outgoing, facts=known, documents=documents)

    async def _tool_for(self, step: StepInput) -> Tool:
        """The registry's tool, or one of the tenant's own MCP servers' (`<server>.<tool>`),
        which its roles allow the caller."""
        name = step.tool or ""
        server, dot, remote = name.partition(".")
        if name in self._registry.names() or not dot:
            return self._registry.get(name)
        record = await SourceStore(self._pool).mcp_server(step.tenant, server)
        found = tenant_tool(step.tenant, record, remote) if record is not None else None
        if found is None:
            return self._registry.get(name)  # NotFound, naming the known tools
        if step.roles is not None and not found.allows(step.roles):
            raise PolicyDenied(
                f"the tool {name!r} needs one of the roles {', '.join(sorted(found.roles))}"
            )
        return found

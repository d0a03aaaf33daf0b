"""Tools declared in YAML that call HTTP endpoints (`AIOS_TOOL_FILES`).

    tools:
      - name: create_ticket
        description: Open a ticket in the helpdesk.
        endpoint: https://helpdesk.example.com/api/tickets
        method: POST                       # GET/DELETE send the arguments as query parameters
        input_schema:
          type: object
          properties:
            title: {type: string, description: What is wrong}
            priority: {type: string, enum: [low, high], default: low}
          required: [title]
        auth: {header: Authorization, env: HELPDESK_TOKEN, prefix: "Bearer "}
        side_effects: writes               # none | reads | writes
        requires_approval: true
        roles: [ops]
        timeout_s: 20
        price_usd: 0.002                   # what one call costs at the endpoint (default 0)

The secret is read from the worker's environment at call time, so it never enters a workflow
history. Endpoints are the operator's, so they may be internal addresses (no SSRF policy here, as
opposed to `http_fetch`, whose URLs come from users and models). A tool that writes sends the step's
idempotency key as `Idempotency-Key` and records its answer, so a retried step never calls twice.
A priced tool (`price_usd`) is reserved in the spend ledger before each call, against the step's
run, user, key, schedule and tenant, like a paid web search: over a cap it is refused and never
sent (docs/budgets.md); a write answered from its record is not charged again.
A tool that only reads is checked like `http_fetch` once untrusted content is in the caller's
context: its endpoint's host must be among the tenant's allowed domains, and its arguments may
carry none of the user's private data (docs/guardrails.md).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from activities.tools.registry import Egress, Tool, ToolContext
from aios.errors import ConfigurationError, TransientError, UserError, describe_field_errors
from aios.schemas import model_from_schema, read_yaml_file


class HttpAuth(BaseModel):
    model_config = ConfigDict(extra="forbid")

    header: str = "Authorization"
    env: str = Field(description="the environment variable holding the secret")
    prefix: str = ""


class HttpToolSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_.-]{0,63}$")
    description: str = Field(min_length=1)
    endpoint: str = Field(pattern=r"^https?://")
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    input_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})
    auth: HttpAuth | None = None
    side_effects: Literal["none", "reads", "writes"] = "reads"
    requires_approval: bool = False
    roles: list[str] = Field(default_factory=list)
    timeout_s: float = Field(default=30.0, gt=0, le=3600)
    price_usd: float = Field(
        default=0.0,
        ge=0,
        le=1000,
        description="what one call costs at the endpoint's provider, reserved in the spend "
        "ledger before it is sent",
    )


def http_tool(spec: HttpToolSpec) -> Tool:
    async def call(args: BaseModel, ctx: ToolContext) -> Any:
        payload = args.model_dump(exclude_none=True)
        headers = {"User-Agent": "AIOS/0.1"}
        if spec.auth is not None:
            secret = os.environ.get(spec.auth.env)
            if not secret:
                raise ConfigurationError(
                    f"tool {spec.name!r} needs the environment variable {spec.auth.env} on the "
                    "worker"
                )
            headers[spec.auth.header] = spec.auth.prefix + secret
        if spec.side_effects == "writes":
            headers["Idempotency-Key"] = ctx.idempotency_key

            async def effect(_conn: Any) -> dict[str, Any]:
                return {"response": await charged(payload, headers, ctx)}

            return (await ctx.once(spec.name, effect))["response"]
        return await charged(payload, headers, ctx)

    async def charged(payload: dict[str, Any], headers: dict[str, str], ctx: ToolContext) -> Any:
        async with ctx.charged(f"tool:{spec.name}", spec.price_usd):
            return await send(payload, headers)

    async def send(payload: dict[str, Any], headers: dict[str, str]) -> Any:
        query = spec.method in ("GET", "DELETE")
        try:
            async with httpx.AsyncClient(timeout=spec.timeout_s, trust_env=False) as client:
                response = await client.request(
                    spec.method,
                    spec.endpoint,
                    params=payload if query else None,
                    json=None if query else payload,
                    headers=headers,
                )
        except httpx.TransportError as e:
            raise TransientError(f"{spec.name}: {spec.endpoint} did not answer: {e}") from e
        if response.status_code >= 500 or response.status_code in (408, 429):
            raise TransientError(
                f"{spec.name}: {spec.endpoint} answered HTTP {response.status_code}"
            )
        if response.status_code >= 400:
            raise UserError(
                f"{spec.name}: {spec.endpoint} refused the call (HTTP {response.status_code}): "
                f"{response.text[:300]}"
            )
        try:
            return response.json()
        except ValueError:
            return {"status": response.status_code, "text": response.text[:100_000]}

    return Tool(
        name=spec.name,
        description=spec.description,
        args_model=model_from_schema(spec.name, spec.input_schema),
        fn=call,
        side_effects=spec.side_effects,
        requires_approval=spec.requires_approval,
        roles=frozenset(spec.roles),
        timeout_s=spec.timeout_s,
        # A tool that only reads still sends its arguments to the endpoint: once untrusted content
        # is in the caller's context, they go only to the tenant's allowed domains and carry none
        # of the user's private data (a tool that writes waits for a person then anyway).
        egress=None if spec.side_effects == "writes" else _endpoint_host(spec.endpoint),
    )


def _endpoint_host(endpoint: str) -> Egress:
    host = urlsplit(endpoint).hostname or ""
    return lambda _args, _ctx: [host]


def load_tool_file(path: Path) -> list[Tool]:
    """The tools a YAML file declares; a bad file is refused with the file and tool named."""
    document = read_yaml_file(path, "tool file")
    entries = document.get("tools") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ConfigurationError(f"tool file {path}: expected a top-level `tools:` list")
    tools = []
    for n, entry in enumerate(entries):
        label = entry.get("name", f"#{n + 1}") if isinstance(entry, dict) else f"#{n + 1}"
        try:
            spec = HttpToolSpec.model_validate(entry)
            tools.append(http_tool(spec))
        except ValidationError as e:
            raise ConfigurationError(
                f"tool file {path}, tool {label!r}: {describe_field_errors(e.errors())}"
            ) from None
        except ValueError as e:
            raise ConfigurationError(f"tool file {path}, tool {label!r}: {e}") from None
    return tools

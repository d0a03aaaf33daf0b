"""The route x role table, walked. Every route that needs the `admin` role declares it
(`dependencies=[ADMIN_ONLY]`, shown in docs/reference/api.md); ADMIN_ROUTES below is that table,
so a route that loses its declaration, or a new admin route not listed here, fails. Each is asked
by a key of every role: 403 problem+json, before the body is read, for all but the admin; the
admin is never refused. The run, memory, chat and schedule routes, whose answer depends on whose
the resource is, are walked in tests/gateway/test_authz.py."""

from __future__ import annotations

import re
from typing import Any

import httpx
from fastapi import FastAPI

from api.deps import ADMIN_ONLY, api_route_paths
from tests.conftest import Stack, api_client, app_for
from tests.helpers import keys_by_role

ADMIN_ROUTES = {
    ("POST", "/v1/keys"),
    ("GET", "/v1/keys"),
    ("DELETE", "/v1/keys/{key_id}"),
    ("DELETE", "/v1/tenants/{tenant}"),
    ("DELETE", "/v1/tenants/{tenant}/traces"),
    ("POST", "/v1/budgets"),
    ("DELETE", "/v1/budgets/{budget_id}"),
    ("POST", "/v1/standing-approvals"),
    ("GET", "/v1/standing-approvals"),
    ("DELETE", "/v1/standing-approvals/{standing_id}"),
    ("POST", "/v1/policies"),
    ("GET", "/v1/policies"),
    ("GET", "/v1/policies/{policy_id}"),
    ("DELETE", "/v1/policies/{policy_id}"),
    ("POST", "/v1/groups"),
    ("GET", "/v1/groups"),
    ("GET", "/v1/groups/{name}"),
    ("PUT", "/v1/groups/{name}"),
    ("DELETE", "/v1/groups/{name}"),
    ("PUT", "/v1/sources/{name}"),
    ("DELETE", "/v1/sources/{name}"),
    ("PUT", "/v1/mcp-servers/{name}"),
    ("DELETE", "/v1/mcp-servers/{name}"),
    ("PUT", "/v1/egress"),
    ("POST", "/v1/channels/slack/users"),
    ("GET", "/v1/channels/slack/users"),
    ("DELETE", "/v1/channels/slack/users/{team_id}/{slack_user_id}"),
}


def _declared(app: FastAPI) -> set[tuple[str, str]]:
    return {
        (method, path)
        for path, route in api_route_paths(app)
        if any(d is ADMIN_ONLY for d in route.dependencies)
        for method in route.methods or ()
    }


async def test_admin_routes_refuse_every_other_role_before_reading_the_body(stack: Stack) -> None:
    app = app_for(stack)
    assert _declared(app) == ADMIN_ROUTES
    async with api_client(app) as api:
        keys = await keys_by_role(api)
        for method, path in sorted(ADMIN_ROUTES):
            # A name no tenant has: what the admin's request reaches finds nothing to change.
            url = re.sub(r"\{[a-z_]+\}", "nobody-here", path)
            # A body that is no request at all: a non-admin learns nothing from a 422.
            body: dict[str, Any] | None = {} if method in ("POST", "PUT") else None
            for user, role in (("ada", "user"), ("carol", "approver"), ("olga", "operator")):
                refused = await api.request(method, url, json=body, headers=keys[user])
                assert refused.status_code == 403, (method, path, role, refused.text)
                assert refused.headers["content-type"] == "application/problem+json"
                assert "admin role" in refused.json()["detail"]
            answered = await api.request(method, url, json=body, headers=keys["adam"])
            assert answered.status_code not in (401, 403), (method, path, answered.text)
            assert answered.status_code < 500, (method, path, answered.text)
    # The reference shows the table from the same declarations.
    spec = app.openapi()
    shown = {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if op.get("x-aios-roles") == ["admin"]
    }
    assert shown == ADMIN_ROUTES


async def test_keys_without_a_role_for_it_get_no_metrics(api: httpx.AsyncClient) -> None:
    keys = await keys_by_role(api)
    seen = {
        user: (await api.get("/metrics", headers=key)).status_code for user, key in keys.items()
    }
    assert seen == {"ada": 403, "bob": 403, "carol": 403, "olga": 200, "adam": 200}

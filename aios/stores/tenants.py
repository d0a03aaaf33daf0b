"""Everything PostgreSQL holds for one tenant, deleted together: an administrator honouring a
deletion request (`DELETE /v1/tenants/{tenant}`).

Not here: artifacts (large payloads, stored once by content hash and possibly shared with other
tenants' runs; they carry no tenant) and the per-key request counters (no tenant either).
"""

from __future__ import annotations

import asyncpg

from aios.db import transient_on_connection_loss

# Every table with a tenant column (tests/gateway/test_tenants.py checks the schema has no other).
TENANT_TABLES = (
    "documents",
    "document_uploads",
    "user_facts",
    "conversation_messages",
    "conversation_summaries",
    "tool_effects",
    "published_reports",
    "reports",
    "report_deliveries",
    "run_files",
    "run_snapshots",
    "run_traces",
    "api_keys",
    "standing_approvals",
    "approval_notices",
    "approval_policies",
    "approval_group_members",
    "approval_groups",
    "user_contacts",
    "budget_caps",
    "ledger_entries",
    "versions",
    "eval_rows",
    "evals",
    "slack_events",
    "slack_users",
    "llm_cache",
    "llm_cache_hits",
    "embedding_cache",
    "embedding_cache_uses",
    "tenant_sql_sources",
    "tenant_mcp_servers",
    "tenant_egress",
    "mcp_calls",
)
# The spend ledger's running totals name their tenant inside the scope ('user:acme/ada',
# 'tenant:acme/acme'); a run's total ('run:<id>') names no one and goes with its entries' run.
_LEDGER_COUNTERS_OF_TENANT = (
    "DELETE FROM ledger_counters"
    " WHERE substr(scope, strpos(scope, ':') + 1, length($1) + 1) = $1 || '/'"
)


@transient_on_connection_loss
async def delete_tenant_rows(
    pool: asyncpg.Pool, tenant: str, *, keep_key: str | None = None
) -> dict[str, int]:
    """Delete the tenant's rows from every table, in one transaction; rows deleted per table.
    `keep_key`: an API key id to spare (the caller's own, when it deletes its own tenant)."""
    deleted: dict[str, int] = {}
    async with pool.acquire() as conn, conn.transaction():
        for table in TENANT_TABLES:
            if table == "api_keys" and keep_key is not None:
                status = await conn.execute(
                    "DELETE FROM api_keys WHERE tenant = $1 AND id <> $2", tenant, keep_key
                )
            else:
                # The table name is one of the constants above, never input.
                status = await conn.execute(f"DELETE FROM {table} WHERE tenant = $1", tenant)
            deleted[table] = int(status.split()[-1])
        status = await conn.execute(_LEDGER_COUNTERS_OF_TENANT, tenant)
        deleted["ledger_counters"] = int(status.split()[-1])
    return deleted

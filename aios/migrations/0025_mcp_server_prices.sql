-- What one call of a tenant's MCP server costs at its provider: reserved in the spend ledger
-- before it is sent (docs/budgets.md). 0: free, not an entry.
ALTER TABLE tenant_mcp_servers ADD COLUMN IF NOT EXISTS price_usd double precision NOT NULL DEFAULT 0;

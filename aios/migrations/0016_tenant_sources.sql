-- Data sources and tools with owners (aios/sources.py): a tenant's SQL sources, its MCP servers
-- and the domains its runs and chats may reach after reading untrusted content. Managed by the
-- tenant's admins through /v1/sources, /v1/mcp-servers and /v1/egress; `roles` empty: every role
-- of the tenant may use it. Secrets (a DSN, header values) are written here and never read back
-- by the API's reads.
CREATE TABLE tenant_sql_sources (
    tenant      text NOT NULL,
    name        text NOT NULL,
    dsn         text NOT NULL,
    roles       text[] NOT NULL DEFAULT '{}',
    description text NOT NULL DEFAULT '',
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, name)
);

CREATE TABLE tenant_mcp_servers (
    tenant            text NOT NULL,
    name              text NOT NULL,
    url               text NOT NULL,
    headers           jsonb NOT NULL DEFAULT '{}',
    roles             text[] NOT NULL DEFAULT '{}',
    side_effects      text NOT NULL DEFAULT 'writes',
    requires_approval boolean NOT NULL DEFAULT false,
    timeout_s         double precision NOT NULL DEFAULT 60,
    -- The tools the server listed when it was registered: [{name, description, input_schema}].
    tools             jsonb NOT NULL DEFAULT '[]',
    created_by        text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, name)
);

CREATE TABLE tenant_egress (
    tenant     text PRIMARY KEY,
    domains    text[] NOT NULL DEFAULT '{}',
    updated_by text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Calls of MCP tools with side effects on servers that take no idempotency key, journalled
-- before they are sent (activities/tools/mcp_tools.py): a call found `sending` by a later attempt
-- may or may not have reached the server, and becomes `in_doubt` until a person says whether to
-- send it again (`resend`); it is never retried blindly.
CREATE TABLE mcp_calls (
    idempotency_key text PRIMARY KEY,
    tenant          text NOT NULL,
    tool            text NOT NULL,
    args_sha256     text NOT NULL,
    status          text NOT NULL
                    CHECK (status IN ('sending', 'done', 'failed', 'in_doubt')),
    result          jsonb,
    error           text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mcp_calls_in_doubt ON mcp_calls (tenant) WHERE status = 'in_doubt';

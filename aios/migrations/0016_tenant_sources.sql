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

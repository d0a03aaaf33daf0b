-- API keys: stored as a SHA-256 of the whole key (keys are 32 random bytes: a slow hash adds
-- nothing), found by their public prefix, bound to a tenant, a user and roles.
CREATE TABLE api_keys (
    id                  text PRIMARY KEY,          -- key_<prefix>: what lists and revokes name
    prefix              text NOT NULL UNIQUE,
    sha256              text NOT NULL,
    tenant              text NOT NULL,
    user_id             text NOT NULL,
    roles               text[] NOT NULL,
    name                text NOT NULL DEFAULT '',
    rate_per_minute     integer,                   -- NULL: the deployment's default
    max_concurrent_runs integer,
    created_at          timestamptz NOT NULL DEFAULT now(),
    revoked_at          timestamptz,
    last_used_at        timestamptz
);
CREATE INDEX api_keys_tenant_idx ON api_keys (tenant);

-- Requests per key per minute, shared by every API process.
CREATE TABLE rate_counters (
    key_id       text NOT NULL,
    window_start timestamptz NOT NULL,
    count        integer NOT NULL,
    PRIMARY KEY (key_id, window_start)
);

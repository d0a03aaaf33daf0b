-- Standing approvals (aios/standing.py): an administrator's approval given in advance for a
-- bounded action, with an expiry and a number of uses.
CREATE TABLE standing_approvals (
    id          text PRIMARY KEY,
    tenant      text NOT NULL,
    tool        text NOT NULL,
    constraints jsonb NOT NULL,
    expires_at  timestamptz NOT NULL,
    uses        integer NOT NULL CHECK (uses > 0),
    uses_left   integer NOT NULL CHECK (uses_left >= 0),
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    note        text NOT NULL DEFAULT ''
);
CREATE INDEX standing_approvals_live ON standing_approvals (tenant, tool) WHERE revoked_at IS NULL;

-- Each use, once: a retried activity or a replayed run finds its use by key.
CREATE TABLE standing_approval_uses (
    use_key     text PRIMARY KEY,
    standing_id text NOT NULL REFERENCES standing_approvals (id) ON DELETE CASCADE,
    used_at     timestamptz NOT NULL DEFAULT now()
);

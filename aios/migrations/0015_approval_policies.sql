-- Approval policies as data and groups of approvers (aios/approval_policies.py): per tenant, an
-- admin's policy for a tool, skill or schedule (who approves, k of n, timeout, escalation), and
-- named groups of the tenant's users that policies and plans name as `group:<name>`.
CREATE TABLE IF NOT EXISTS approval_groups (
    tenant      text NOT NULL,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, name)
);

CREATE TABLE IF NOT EXISTS approval_group_members (
    tenant  text NOT NULL,
    name    text NOT NULL,
    user_id text NOT NULL,
    PRIMARY KEY (tenant, name, user_id),
    FOREIGN KEY (tenant, name) REFERENCES approval_groups (tenant, name) ON DELETE CASCADE
);
-- The groups one user is in (asked at every answer and inbox listing).
CREATE INDEX IF NOT EXISTS approval_group_members_user ON approval_group_members (tenant, user_id);

CREATE TABLE IF NOT EXISTS approval_policies (
    id         text PRIMARY KEY,
    tenant     text NOT NULL,
    subject    text NOT NULL CHECK (subject IN ('tool', 'skill', 'schedule')),
    name       text NOT NULL,
    rule       jsonb NOT NULL,
    note       text NOT NULL DEFAULT '',
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant, subject, name)
);

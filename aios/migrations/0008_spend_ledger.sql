-- The spend ledger (aios/stores/ledger.py, docs/budgets.md): caps set as data, one counter per
-- scope and period (reserved plus spent, the row a reservation locks), and one entry per model
-- call (its reservation, then what it really cost).
CREATE TABLE IF NOT EXISTS budget_caps (
    id          text PRIMARY KEY,
    tenant      text NOT NULL,
    scope       text NOT NULL CHECK (scope IN ('tenant', 'user', 'key', 'schedule')),
    subject     text NOT NULL,
    period      text NOT NULL CHECK (period IN ('day', 'month')),
    usd         numeric(14, 6),
    tokens      bigint,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (usd IS NOT NULL OR tokens IS NOT NULL),
    UNIQUE (tenant, scope, subject, period)
);

CREATE TABLE IF NOT EXISTS ledger_counters (
    scope   text NOT NULL,   -- tenant:acme, user:acme/ada, key:..., schedule:..., run:<id>
    period  text NOT NULL,   -- 2026-12-05, 2026-12, or 'run' for a run's whole life
    usd     numeric(14, 6) NOT NULL DEFAULT 0,
    tokens  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, period)
);

CREATE TABLE IF NOT EXISTS ledger_entries (
    key             text PRIMARY KEY,  -- run/activity/attempt/call: one per model call attempt
    tenant          text NOT NULL,
    user_id         text NOT NULL,
    run_id          text NOT NULL,
    root_run_id     text NOT NULL,
    skill           text,
    schedule_id     text,
    key_id          text,
    model           text NOT NULL,
    priced          boolean NOT NULL,
    status          text NOT NULL CHECK (status IN ('reserved', 'settled', 'released', 'expired')),
    reserved_usd    numeric(14, 6) NOT NULL,
    reserved_tokens bigint NOT NULL,
    usd             numeric(14, 6) NOT NULL DEFAULT 0,
    input_tokens    bigint NOT NULL DEFAULT 0,
    output_tokens   bigint NOT NULL DEFAULT 0,
    counters        jsonb NOT NULL,    -- [[scope, period], ...] the reservation was counted in
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    closed_at       timestamptz
);
CREATE INDEX IF NOT EXISTS ledger_entries_tenant_idx ON ledger_entries (tenant, created_at);
CREATE INDEX IF NOT EXISTS ledger_entries_open_idx ON ledger_entries (expires_at) WHERE status = 'reserved';

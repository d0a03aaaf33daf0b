-- Versions of prompts and skills (content hash + label), kept so an older one can still be run
-- after the code changes; evaluations (a dataset run as one run per row and variant) and their
-- per-row results. `tenant` is '' for the versions the code ships (visible to every tenant).
CREATE TABLE versions (
    tenant     text NOT NULL DEFAULT '',
    kind       text NOT NULL,            -- prompt | skill
    name       text NOT NULL,            -- system, planner, agent, or the skill's name
    hash       text NOT NULL,            -- sha256 hex of the text
    label      text NOT NULL,
    text       text NOT NULL,
    source     text NOT NULL DEFAULT 'code',  -- code | registered
    created_by text,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, kind, name, hash),
    UNIQUE (tenant, kind, name, label)
);
CREATE INDEX versions_hash_idx ON versions (hash);

CREATE TABLE evals (
    id          text PRIMARY KEY,
    tenant      text NOT NULL,
    user_id     text NOT NULL,
    status      text NOT NULL DEFAULT 'running',  -- running | completed | failed
    spec        jsonb NOT NULL,                   -- scorers, variants, concurrency, dataset name
    rows_total  integer NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE INDEX evals_tenant_created_idx ON evals (tenant, created_at DESC, id DESC);

CREATE TABLE eval_rows (
    tenant      text NOT NULL,
    eval_id     text NOT NULL REFERENCES evals (id) ON DELETE CASCADE,
    variant     text NOT NULL,
    row_n       integer NOT NULL,
    status      text NOT NULL DEFAULT 'pending',  -- pending | scored | errored
    question    text NOT NULL DEFAULT '',
    expected    jsonb NOT NULL DEFAULT '{}'::jsonb,
    run_input   jsonb,
    run_id      text,
    answer      text,
    scores      jsonb NOT NULL DEFAULT '{}'::jsonb,
    latency_ms  double precision,
    tokens      integer,
    cost_usd    double precision,
    error       text,
    finished_at timestamptz,
    PRIMARY KEY (eval_id, variant, row_n)
);

-- Reports: one per report run (its answer as Markdown, with citations), readable through
-- GET /v1/reports by whoever may read the run; `published_at` is set by the publish_report tool
-- (after its approval). Replaces published_reports, whose rows are carried over (the old table
-- stays, unused, so that a migration never drops data).
CREATE TABLE reports (
    id           text PRIMARY KEY,
    tenant       text NOT NULL,
    run_id       text NOT NULL,
    user_id      text NOT NULL,
    title        text NOT NULL,
    markdown     text NOT NULL,
    citations    jsonb NOT NULL DEFAULT '[]'::jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    UNIQUE (tenant, run_id)
);
CREATE INDEX reports_tenant_created_idx ON reports (tenant, created_at DESC, id DESC);

INSERT INTO reports (id, tenant, run_id, user_id, title, markdown, created_at, published_at)
SELECT DISTINCT ON (tenant, run_id) id, tenant, run_id, 'anonymous', title, body, created_at,
       created_at
FROM published_reports
ORDER BY tenant, run_id, created_at DESC
ON CONFLICT DO NOTHING;

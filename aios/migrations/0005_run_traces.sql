-- Decision traces of finished runs (aios/trace.py), kept past Temporal's retention and deleted
-- per the retention policy (AIOS_TRACE_RETENTION_DAYS) or with a tenant's data.
CREATE TABLE run_traces (
    run_id      text PRIMARY KEY,
    tenant      text NOT NULL,
    status      text NOT NULL,
    finished_at timestamptz NOT NULL,
    trace       jsonb NOT NULL
);
CREATE INDEX run_traces_tenant_idx ON run_traces (tenant);
CREATE INDEX run_traces_finished_idx ON run_traces (finished_at);

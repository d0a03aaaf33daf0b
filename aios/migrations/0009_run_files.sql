-- Files the file tools (file_write) write: kept per run in PostgreSQL, not on one worker's disk,
-- so any worker reads them and readers of the run download them (GET /v1/runs/{id}/files).
CREATE TABLE run_files (
    tenant     text NOT NULL,
    run_id     text NOT NULL,
    path       text NOT NULL,
    size_bytes integer NOT NULL,
    content    bytea NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, run_id, path)
);

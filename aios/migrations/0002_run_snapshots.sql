-- The last state of each run the API has seen, so that `GET /v1/runs/{id}` can answer (marked
-- stale) while no worker can answer the workflow's state query.
CREATE TABLE run_snapshots (
    run_id         text PRIMARY KEY,
    tenant         text NOT NULL,
    last_event_seq integer NOT NULL,
    state          jsonb NOT NULL,
    observed_at    timestamptz NOT NULL DEFAULT now()
);

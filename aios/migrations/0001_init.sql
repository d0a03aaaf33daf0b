-- Artifacts: Temporal payloads over the size threshold, stored once and passed by reference.
CREATE TABLE artifacts (
    id          text PRIMARY KEY,           -- sha256 of the payload: identical payloads share a row
    size_bytes  integer NOT NULL,
    payload     bytea NOT NULL,             -- serialized temporal.api.common.v1.Payload
    workflow_id text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX artifacts_workflow_idx ON artifacts (workflow_id);

-- Documents of the knowledge base; their chunks' vectors live in Qdrant.
CREATE TABLE documents (
    id          text PRIMARY KEY,
    tenant      text NOT NULL,
    source      text NOT NULL,
    title       text NOT NULL,
    sha256      text NOT NULL,
    chunk_count integer NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant, source)
);

-- Side effects of tools, keyed by the step's idempotency key, so a retried or replayed step never
-- repeats an effect that already happened.
CREATE TABLE tool_effects (
    idempotency_key text PRIMARY KEY,
    tool            text NOT NULL,
    tenant          text NOT NULL,
    result          jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Reports published by the publish_report tool.
CREATE TABLE published_reports (
    id              text PRIMARY KEY,
    tenant          text NOT NULL,
    run_id          text NOT NULL,
    title           text NOT NULL,
    body            text NOT NULL,
    idempotency_key text NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Documents: what the caller told us about each one, and where it came from.
ALTER TABLE documents
    ADD COLUMN metadata     jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN content_type text,
    ADD COLUMN size_bytes   integer NOT NULL DEFAULT 0,
    ADD COLUMN job_id       text;
CREATE INDEX documents_tenant_idx ON documents (tenant, id);

-- Bodies uploaded through the API, waiting for their ingestion job (by content hash per tenant,
-- so the same upload twice is stored once). The ingestion activity deletes them once indexed.
CREATE TABLE document_uploads (
    tenant     text NOT NULL,
    sha256     text NOT NULL,
    data       bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, sha256)
);

-- User memory: facts and preferences per user, with provenance and an optional expiry.
CREATE TABLE user_facts (
    tenant     text NOT NULL,
    user_id    text NOT NULL,
    key        text NOT NULL,
    value      text NOT NULL,
    kind       text NOT NULL,              -- fact | preference
    provenance jsonb NOT NULL DEFAULT '{}', -- who or what said it: run, step, api
    expires_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, user_id, key)
);

-- Conversation memory: the messages of a session, in order; a summary stands in for the older ones.
CREATE TABLE conversation_messages (
    tenant     text NOT NULL,
    session_id text NOT NULL,
    seq        bigint NOT NULL,
    user_id    text,
    role       text NOT NULL,
    content    text NOT NULL,
    message_id text NOT NULL,              -- deterministic: a retried write is the same message
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, session_id, seq),
    UNIQUE (tenant, session_id, message_id)
);
CREATE INDEX conversation_messages_user_idx ON conversation_messages (tenant, user_id);

CREATE TABLE conversation_summaries (
    tenant      text NOT NULL,
    session_id  text NOT NULL,
    user_id     text,
    summary     text NOT NULL,
    through_seq bigint NOT NULL,          -- the summary covers messages up to this one
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, session_id)
);

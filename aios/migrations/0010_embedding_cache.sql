-- The embedding cache (activities/knowledge/embedding_cache.py): a document chunk's vector, kept
-- per tenant under the embedding model's identity (model, engine, model files) and the SHA-256
-- of the exact text embedded, so re-ingesting a text embeds it once. It holds no text.
CREATE TABLE embedding_cache (
    tenant      text NOT NULL,
    model       text NOT NULL,
    text_sha256 bytea NOT NULL,
    vector      bytea NOT NULL,  -- float32, little-endian
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, model, text_sha256)
);
CREATE INDEX embedding_cache_created ON embedding_cache (created_at);

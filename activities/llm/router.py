"""Maps `provider:model` settings and the plan's model tiers (fast, strong) onto providers."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from activities.llm.anthropic_messages import AnthropicProvider
from activities.llm.base import LLMProvider
from activities.llm.openai_compat import OpenAICompatProvider
from activities.llm.pricing import PriceTable
from aios.config import LlmConfig
from aios.errors import ConfigurationError
from aios.vocabulary import Provider

LOCAL_SAMPLING = {"repeat_penalty": 1.15, "repeat_last_n": 256}
TIERS = ("fast", "strong")


class ModelRouter:
    def __init__(self, config: LlmConfig) -> None:
        self._config = config
        self._providers: dict[str, LLMProvider] = {}
        self.prices = PriceTable(config.prices)
        self._slots = {name: asyncio.Semaphore(n) for name, n in config.concurrency.items()}

    def slot(self, provider_name: str) -> contextlib.AbstractAsyncContextManager[Any]:
        """Held while a call to the provider is in flight (AIOS_LLM_CONCURRENCY)."""
        return self._slots.get(provider_name) or contextlib.nullcontext()

    def spec(self, tier_or_spec: str) -> str:
        """`fast`, `strong` or an explicit `provider:model` -> `provider:model`."""
        return {
            "fast": self._config.model_fast,
            "strong": self._config.model_strong,
        }.get(tier_or_spec, tier_or_spec)

    def resolve(self, tier_or_spec: str) -> tuple[LLMProvider, str]:
        """`fast`, `strong` or an explicit `provider:model` -> (provider, model name)."""
        spec = self.spec(tier_or_spec)
        provider_name, _, model = spec.partition(":")
        if not model:
            raise ConfigurationError(f"model {spec!r} is not provider:model")
        return self._provider(provider_name), model

    def context_window(self, tier_or_spec: str) -> int:
        """Tokens one request to this model may use, prompt and answer together:
        AIOS_MODEL_CONTEXT_WINDOWS where it names the model, else its provider's."""
        spec = self.spec(tier_or_spec)
        configured = self._config.context_windows.get(spec)
        if configured:
            return configured
        provider, _ = self.resolve(spec)
        return provider.context_window

    async def count_tokens(self, tier_or_spec: str, texts: list[str]) -> list[int] | None:
        """Exact counts of `texts` for this model where its provider can count offline."""
        provider, _ = self.resolve(tier_or_spec)
        return await provider.count_tokens(texts)

    def fallback_for(self, spec: str) -> str | None:
        """The model to use while `spec`'s provider is out: AIOS_MODEL_FALLBACK when it is on
        another provider."""
        fallback = self._config.model_fallback
        if fallback and fallback.partition(":")[0] != spec.partition(":")[0]:
            return fallback
        return None

    def _provider(self, name: str) -> LLMProvider:
        if name not in self._providers:
            self._providers[name] = self._build(name)
        return self._providers[name]

    def _build(self, name: str) -> LLMProvider:
        c = self._config
        if name == Provider.LOCAL:
            return OpenAICompatProvider(
                name=Provider.LOCAL,
                api_key="local",
                base_url=c.local_model_url,
                context_window=c.local_context_window,
                # Small local models loop on phrases; llama.cpp's repeat penalty over a long
                # window stops that where the OpenAI-style frequency penalty does not.
                extra_body=LOCAL_SAMPLING,
                prices=self.prices,
                tokenize_url=c.local_model_url.removesuffix("/").removesuffix("/v1") + "/tokenize",
            )
        if name == Provider.OPENAI:
            if c.openai_api_key is None:
                raise ConfigurationError(
                    "an openai: model is configured but OPENAI_API_KEY is not set"
                )
            return OpenAICompatProvider(
                name=Provider.OPENAI,
                api_key=c.openai_api_key.get_secret_value(),
                base_url=c.openai_base_url,
                prices=self.prices,
            )
        if name == Provider.ANTHROPIC:
            if c.anthropic_api_key is None:
                raise ConfigurationError(
                    "an anthropic: model is configured but ANTHROPIC_API_KEY is not set"
                )
            return AnthropicProvider(
                api_key=c.anthropic_api_key.get_secret_value(),
                base_url=c.anthropic_base_url,
                prices=self.prices,
            )
        known = ", ".join(f"{p.value}:" for p in Provider)
        raise ConfigurationError(
            f"the {name!r} provider is not available in this build; use {known} models "
            "(AIOS_MODEL_FAST / AIOS_MODEL_STRONG)"
        )

    async def aclose(self) -> None:
        for provider in self._providers.values():
            await provider.aclose()

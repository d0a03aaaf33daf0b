"""Maps `provider:model` settings and the plan's model tiers (fast, strong) onto providers."""

from __future__ import annotations

from activities.llm.base import LLMProvider
from activities.llm.openai_compat import OpenAICompatProvider
from aios.config import Settings
from aios.errors import ConfigurationError

LOCAL_SAMPLING = {"repeat_penalty": 1.15, "repeat_last_n": 256}


class ModelRouter:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._providers: dict[str, LLMProvider] = {}

    def resolve(self, tier_or_spec: str) -> tuple[LLMProvider, str]:
        """`fast`, `strong` or an explicit `provider:model` -> (provider, model name)."""
        spec = {
            "fast": self._settings.model_fast,
            "strong": self._settings.model_strong,
        }.get(tier_or_spec, tier_or_spec)
        provider_name, _, model = spec.partition(":")
        if not model:
            raise ConfigurationError(f"model {spec!r} is not provider:model")
        return self._provider(provider_name), model

    def _provider(self, name: str) -> LLMProvider:
        if name not in self._providers:
            self._providers[name] = self._build(name)
        return self._providers[name]

    def _build(self, name: str) -> LLMProvider:
        s = self._settings
        if name == "local":
            url = s.local_model_url or f"http://127.0.0.1:{s.local_model_port}/v1"
            return OpenAICompatProvider(
                name="local",
                api_key="local",
                base_url=url,
                # llama.cpp splits its context between parallel slots.
                context_window=s.local_model_context_size // max(1, s.local_model_parallel),
                # Small local models loop on phrases; llama.cpp's repeat penalty over a long
                # window stops that where the OpenAI-style frequency penalty does not.
                extra_body=LOCAL_SAMPLING,
            )
        if name == "openai":
            if s.openai_api_key is None:
                raise ConfigurationError(
                    "an openai: model is configured but OPENAI_API_KEY is not set"
                )
            return OpenAICompatProvider(
                name="openai",
                api_key=s.openai_api_key.get_secret_value(),
                base_url=s.openai_base_url,
            )
        raise ConfigurationError(
            f"the {name!r} provider is not available in this build; use openai: or local: models "
            "(AIOS_MODEL_FAST / AIOS_MODEL_STRONG)"
        )

    async def aclose(self) -> None:
        for provider in self._providers.values():
            await provider.aclose()

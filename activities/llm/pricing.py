"""Prices per million tokens (input, output) in USD, for the cost counted per step and per run.

Built-in defaults below; `AIOS_MODEL_PRICES` (JSON `{"provider:model": [in, out]}`, also
`models.prices` in temporal-dev.yaml) adds models or overrides these. Local models are free. A
hosted model with no known price counts as $0, so `budget_usd` covers only priced models: add a
price before relying on a budget with a new model.
"""

from __future__ import annotations

from aios.vocabulary import Provider

DEFAULT_PRICES_PER_MTOK: dict[str, tuple[float, float]] = {
    "openai:gpt-4o-mini": (0.15, 0.60),
    "openai:gpt-4o": (2.50, 10.00),
    "openai:gpt-4.1": (2.00, 8.00),
    "openai:gpt-4.1-mini": (0.40, 1.60),
    "openai:gpt-4.1-nano": (0.10, 0.40),
    "anthropic:claude-3-5-haiku-latest": (0.80, 4.00),
    "anthropic:claude-haiku-4-5": (1.00, 5.00),
    "anthropic:claude-sonnet-4-5": (3.00, 15.00),
}


class PriceTable:
    def __init__(self, overrides: dict[str, tuple[float, float]] | None = None) -> None:
        self._prices = {**DEFAULT_PRICES_PER_MTOK, **(overrides or {})}

    def price(self, provider: str, model: str) -> tuple[float, float] | None:
        if provider == Provider.LOCAL:
            return (0.0, 0.0)
        return self._prices.get(f"{provider}:{model}")

    def cost_usd(self, provider: str, model: str, input_tokens: int, output_tokens: int) -> float:
        """Cost of one call; 0 for free and for unpriced models."""
        price = self.price(provider, model)
        if price is None:
            return 0.0
        return round((input_tokens * price[0] + output_tokens * price[1]) / 1_000_000, 8)

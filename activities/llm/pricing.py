"""Prices per million tokens (input, output) in USD, for the cost counted per step and per run
and reserved in the spend ledger (aios/stores/ledger/) before each call.

Built-in defaults below (the providers' list prices, checked 2026-12; cached-input discounts are
not counted, so a cost is at most what the provider bills); `AIOS_MODEL_PRICES` (JSON
`{"provider:model": [in, out]}`, also `models.prices` in temporal-dev.yaml) adds models or
overrides these. Local models (the bundled one included) are priced at 0 explicitly, unless
AIOS_MODEL_PRICES names them. A hosted model with no known price is never counted as free where
it matters: a call to it is refused under any USD cap (the run's `budget_usd`, or a tenant's,
user's, key's or schedule's cap), naming the model and AIOS_MODEL_PRICES; without a USD cap its
tokens are counted and its cost shows as 0.
"""

from __future__ import annotations

from aios.vocabulary import Provider

DEFAULT_PRICES_PER_MTOK: dict[str, tuple[float, float]] = {
    "openai:gpt-5": (1.25, 10.00),
    "openai:gpt-5-mini": (0.25, 2.00),
    "openai:gpt-5-nano": (0.05, 0.40),
    "openai:gpt-4.1": (2.00, 8.00),
    "openai:gpt-4.1-mini": (0.40, 1.60),
    "openai:gpt-4.1-nano": (0.10, 0.40),
    "openai:gpt-4o": (2.50, 10.00),
    "openai:gpt-4o-mini": (0.15, 0.60),
    "openai:o3": (2.00, 8.00),
    "openai:o4-mini": (1.10, 4.40),
    "anthropic:claude-opus-4-5": (5.00, 25.00),
    "anthropic:claude-opus-4-1": (15.00, 75.00),
    "anthropic:claude-sonnet-4-5": (3.00, 15.00),
    "anthropic:claude-sonnet-4-0": (3.00, 15.00),
    "anthropic:claude-haiku-4-5": (1.00, 5.00),
    "anthropic:claude-3-5-haiku-latest": (0.80, 4.00),
    # Embedding models (AIOS_EMBEDDING_MODEL=openai:<model>): input tokens only.
    "openai:text-embedding-3-small": (0.02, 0.0),
    "openai:text-embedding-3-large": (0.13, 0.0),
    "openai:text-embedding-ada-002": (0.10, 0.0),
}
# The bundled model (and any other local one) costs nothing per token: priced, not unpriced.
LOCAL_PRICE: tuple[float, float] = (0.0, 0.0)


class PriceTable:
    def __init__(self, overrides: dict[str, tuple[float, float]] | None = None) -> None:
        self._prices = {**DEFAULT_PRICES_PER_MTOK, **(overrides or {})}

    def price(self, provider: str, model: str) -> tuple[float, float] | None:
        """(input, output) USD per million tokens; None: the model has no known price."""
        price = self._prices.get(f"{provider}:{model}")
        if price is None and provider == Provider.LOCAL:
            return LOCAL_PRICE
        return price

    def cost_usd(self, provider: str, model: str, input_tokens: int, output_tokens: int) -> float:
        """Cost of one call; 0 for free models, and for unpriced ones (which the callers refuse
        under a USD cap)."""
        price = self.price(provider, model)
        if price is None:
            return 0.0
        return round((input_tokens * price[0] + output_tokens * price[1]) / 1_000_000, 8)

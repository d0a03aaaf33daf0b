"""Prices per million tokens (input, output) in USD, for the cost counted per step and per run.

Local models are free. A hosted model missing from this table counts as 0, so a run's budget only
covers priced models: add a model here before relying on `budget_usd` with it.
"""

from aios.vocabulary import Provider

PRICES_PER_MTOK: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "claude-3-5-haiku-latest": (0.80, 4.00),
    "claude-haiku-4-5": (1.00, 5.00),
    "claude-sonnet-4-5": (3.00, 15.00),
}


def cost_usd(provider: str, model: str, input_tokens: int, output_tokens: int) -> float | None:
    """Cost of one call; None when the price is unknown. Local models are free."""
    if provider == Provider.LOCAL:
        return 0.0
    price = PRICES_PER_MTOK.get(model)
    if price is None:
        return None
    return round((input_tokens * price[0] + output_tokens * price[1]) / 1_000_000, 8)

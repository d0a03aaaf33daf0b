"""Which embedder runs a model name: a paid OpenAI-compatible endpoint (`openai:<model>`), or the
bundled MiniLM on the chosen engine, torch (the reference, activities/knowledge/embeddings.py) or
ONNX Runtime (activities/knowledge/onnx_embedder.py, imported only when chosen: it is heavy).
Apart from both engines, so neither imports the other's chooser.
"""

from __future__ import annotations

from pathlib import Path

from activities.knowledge.embeddings import (
    LocalEmbedder,
    OpenAIEmbedder,
    Precision,
    TextEmbedder,
)
from activities.llm.pricing import PriceTable
from aios.errors import ConfigurationError


def open_embedder(
    model_name: str,
    *,
    precision: Precision = "auto",
    batch_size: int = 32,
    openai_api_key: str | None = None,
    openai_base_url: str | None = None,
    engine: str = "torch",
    models_dir: Path | None = None,
    prices: PriceTable | None = None,
) -> TextEmbedder:
    """The embedder for a model name. A local model runs on `engine`: `torch` (the reference),
    or `auto` / `onnx` / `onnx-int8` (ONNX Runtime, exported once under `models_dir`; see
    activities/knowledge/onnx_embedder.py)."""
    provider, sep, model = model_name.partition(":")
    if sep and provider == "openai":
        return OpenAIEmbedder(
            model, api_key=openai_api_key, base_url=openai_base_url, prices=prices
        )
    if engine != "torch" and models_dir is not None:
        from activities.knowledge.onnx_embedder import Engine, OnnxEmbedder

        if engine not in ("auto", "onnx", "onnx-int8"):
            raise ConfigurationError(
                f"unknown embedding engine {engine!r}: use auto, onnx-int8, onnx or torch"
            )
        chosen: Engine = engine  # type: ignore[assignment]
        return OnnxEmbedder(
            model_name,
            engine=chosen,
            cache_dir=models_dir,
            batch_size=batch_size,
            precision=precision,
        )
    return LocalEmbedder(model_name, precision=precision, batch_size=batch_size)

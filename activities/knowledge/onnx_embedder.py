"""MiniLM through ONNX Runtime: the same model, tokenizer, mean pooling and L2 normalisation as
the torch path (`LocalEmbedder`), built for CPU inference on any x86 or ARM machine.

The ONNX graph is exported once, locally, from the packaged model files (torch's exporter), and
kept under the data dir (`<data dir>/models/<model>-<fingerprint>/`); `onnx-int8` also quantizes
the graph's matrix multiplications to int8 (ONNX Runtime's dynamic quantization, per channel).
Nothing is downloaded. A model whose export fails falls back to torch, with the reason logged.

Texts are tokenized up front and batched by length (longest first), so a batch pads to its own
longest text, not to the longest of the whole call; vectors come back in the caller's order.
docs/decisions/0036 has the measurements behind the engine `auto` picks.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from activities.knowledge.embeddings import LocalEmbedder, Precision

log = logging.getLogger(__name__)

Engine = Literal["auto", "onnx-int8", "onnx", "torch"]
# Bump when the export or quantization recipe changes: a new fingerprint, a new file.
RECIPE = "1"


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (Linux `/proc/cpuinfo`); empty where they cannot be read."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):
                    return frozenset(value.split())
    except OSError:
        pass
    return frozenset()


def choose_engine(requested: Engine, flags: frozenset[str] | None = None) -> Engine:
    """The engine for this machine. `auto`: float32 ONNX wherever ONNX Runtime is installed,
    torch elsewhere. int8 is faster but missed the quality bar on SciFact (hybrid nDCG@10 0.0076
    below torch's, against a bound of 0.005; docs/decisions/0036), so it is only taken when
    asked for (`onnx-int8`). `flags` (the CPU's, by default) is kept for that choice should a
    better quantization recipe pass the bar."""
    if requested != "auto":
        return requested
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return "torch"
    return "onnx"


def model_fingerprint(model_dir: Path) -> str:
    """Names the model files' content and the export recipe: a changed model exports anew."""
    digest = hashlib.sha256(f"recipe {RECIPE}".encode())
    for name in ("config.json", "tokenizer.json", "sentence_bert_config.json", "modules.json"):
        path = model_dir / name
        if path.exists():
            digest.update(name.encode() + path.read_bytes())
    for weights in sorted(model_dir.glob("*.safetensors")) + sorted(model_dir.glob("*.bin")):
        with weights.open("rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()[:16]


def _pooling_is_mean(model_dir: Path) -> bool:
    path = model_dir / "1_Pooling" / "config.json"
    if not path.exists():
        return False
    config = json.loads(path.read_text())
    others = (
        "pooling_mode_cls_token",
        "pooling_mode_max_tokens",
        "pooling_mode_mean_sqrt_len_tokens",
    )
    return bool(config.get("pooling_mode_mean_tokens")) and not any(config.get(k) for k in others)


def _atomic(path: Path) -> Path:
    """A temporary name beside `path`, renamed over it when done: a reader never sees half a
    file, and two processes exporting at once both succeed."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")


def export_onnx(model_dir: Path, target: Path) -> None:
    """Export the transformer with mean pooling and normalisation inside the graph, so the
    runtime returns finished sentence vectors."""
    if not _pooling_is_mean(model_dir):
        raise ValueError("only mean-pooled sentence-transformers models are exported")
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    # The export happens once, often during `aios demo`: its progress bar is not AIOS's progress.
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()

    class Pooled(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    inputs = ("input_ids", "attention_mask", "token_type_ids")
    sample = torch.ones(2, 8, dtype=torch.long)
    axes = {name: {0: "batch", 1: "tokens"} for name in inputs}
    tmp = _atomic(target)
    try:
        # The tracer warns about Python conditions in transformers' attention code; with the
        # eager attention and a mask always given they take the same branch for every shape.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Pooled(model),
                (sample, sample, torch.zeros_like(sample)),
                str(tmp),
                input_names=list(inputs),
                output_names=["embedding"],
                dynamic_axes={**axes, "embedding": {0: "batch"}},
                opset_version=17,
                dynamo=False,
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def quantize_int8(source: Path, target: Path) -> None:
    """Dynamic int8 quantization of the matrix multiplications, per output channel (weights
    int8, activations quantized per batch at run time). Per channel and MatMul only: quantizing
    the fused attention too moved vectors by several percent in cosine."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = _atomic(target)
    try:
        quantize_dynamic(
            str(source),
            str(tmp),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
        )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def prepared_model(model_dir: Path, cache_dir: Path, engine: Engine) -> Path:
    """The ONNX file for `engine`, exported (and quantized) on first use."""
    fingerprint = model_fingerprint(model_dir)
    folder = cache_dir / f"{model_dir.name}-{fingerprint}"
    folder.mkdir(parents=True, exist_ok=True)
    float32 = folder / "model.onnx"
    if not float32.exists():
        log.info("exporting %s to ONNX under %s (once)", model_dir, folder)
        export_onnx(model_dir, float32)
    if engine != "onnx-int8":
        return float32
    int8 = folder / "model-int8.onnx"
    if not int8.exists():
        log.info("quantizing %s to int8 (once)", float32)
        quantize_int8(float32, int8)
    return int8


class OnnxEmbedder:
    """A sentence-transformers model (MiniLM) on ONNX Runtime, falling back to torch.

    `name` is the model's, as for torch, so the knowledge collection stays the same (the
    vectors agree to > 0.99 cosine); `identity` also names the engine and the model files, for
    the embedding cache, whose vectors must come from exactly this engine.
    """

    def __init__(
        self,
        model_name: str,
        *,
        engine: Engine = "auto",
        cache_dir: Path,
        batch_size: int = 32,
        precision: Precision = "auto",
    ) -> None:
        self._name = model_name
        self._requested = engine
        self._cache_dir = cache_dir
        self._batch_size = batch_size
        self._precision = precision
        self._lock = asyncio.Lock()
        self._encoding = asyncio.Lock()  # one run at a time: each already uses every core
        self._session: Any = None
        self._tokenizer: Any = None
        self._fallback: LocalEmbedder | None = None
        self._engine: str | None = None
        self._identity: str | None = None
        self._dimension = 0

    @property
    def name(self) -> str:
        return self._name

    @property
    def engine(self) -> str | None:
        """The engine in use once loaded (`onnx-int8`, `onnx`, or `torch:<reason>`)."""
        return self._engine

    async def identity(self) -> str:
        await self._ensure()
        return self._identity or self._name

    def _load(self) -> None:
        model_dir = Path(LocalEmbedder._model_path(self._name))
        engine = choose_engine(self._requested)
        if engine == "torch":
            self._use_torch(model_dir, "chosen")
            return
        try:
            path = prepared_model(model_dir, self._cache_dir, engine)
            self._open(model_dir, path)
        except Exception as e:  # the export depends on torch's exporter; torch still works
            log.warning(
                "ONNX engine unavailable (%s: %s); embedding with torch", type(e).__name__, e
            )
            self._use_torch(model_dir, f"fallback: {type(e).__name__}")
            return
        self._engine = engine
        self._identity = f"{self._name}@{engine}:{path.parent.name.rsplit('-', 1)[-1]}"

    def _use_torch(self, model_dir: Path, why: str) -> None:
        self._fallback = LocalEmbedder(
            self._name, precision=self._precision, batch_size=self._batch_size
        )
        self._engine = f"torch ({why})"
        self._identity = f"{self._name}@torch-{self._precision}:{model_fingerprint(model_dir)}"

    def _open(self, model_dir: Path, path: Path) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle threads sleep instead of spinning: a worker shares its cores with the event loop,
        # Qdrant and other processes, which spinning threads would starve.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        config = json.loads((model_dir / "sentence_bert_config.json").read_text())
        tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        # As sentence-transformers does: truncate to the model's window, pad per batch.
        tokenizer.enable_truncation(max_length=int(config.get("max_seq_length", 256)))
        tokenizer.no_padding()
        self._session, self._tokenizer = session, tokenizer
        self._dimension = int(json.loads((model_dir / "config.json").read_text())["hidden_size"])

    async def _ensure(self) -> None:
        async with self._lock:
            if self._engine is None:
                await asyncio.to_thread(self._load)

    async def dimension(self) -> int:
        await self._ensure()
        if self._fallback is not None:
            return await self._fallback.dimension()
        return self._dimension

    def _encode(self, texts: list[str]) -> list[list[float]]:
        import numpy as np

        encodings = self._tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for start in range(0, len(order), self._batch_size):
            rows = order[start : start + self._batch_size]
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            types = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                enc = encodings[i]
                n = len(enc.ids)
                ids[r, :n] = enc.ids
                mask[r, :n] = 1
                types[r, :n] = enc.type_ids
            [vectors] = self._session.run(
                None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            )
            out[rows] = vectors
        return out.tolist()

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        await self._ensure()
        if self._fallback is not None:
            return await self._fallback.embed(texts)
        async with self._encoding:
            return await asyncio.to_thread(self._encode, list(texts))

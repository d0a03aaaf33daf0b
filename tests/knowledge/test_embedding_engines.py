"""The ONNX Runtime embedding engines against torch, the reference: the same vectors to within
int8 rounding, chosen per CPU, and torch when the export is impossible."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pytest

from activities.knowledge import LocalEmbedder
from activities.knowledge.onnx_embedder import OnnxEmbedder, choose_engine

TEXTS = [
    "The pump needs new seals every year.",
    "Staff get thirty days of leave.",
    "Mitochondria are the powerhouse of the cell; ATP synthase turns a proton gradient into ATP.",
    "Qdrant",
    # Longer than MiniLM's 256-token window: truncated the same way by both engines.
    " ".join(["Vitamin D deficiency is associated with bone loss in older adults."] * 40),
]


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(
        sum(x * x for x in a) * sum(y * y for y in b)
    )


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    return tmp_path_factory.mktemp("models")


@pytest.mark.parametrize("engine", ["onnx", "onnx-int8"])
async def test_onnx_vectors_match_torch(
    engine: str, models_dir: Path, embedder: LocalEmbedder
) -> None:
    onnx = OnnxEmbedder("all-MiniLM-L6-v2", engine=engine, cache_dir=models_dir)  # type: ignore[arg-type]
    vectors = await onnx.embed(TEXTS)
    if onnx.engine != engine:
        pytest.skip(f"the ONNX export is not possible here: {onnx.engine}")
    reference = await LocalEmbedder("all-MiniLM-L6-v2", precision="float32").embed(TEXTS)
    assert await onnx.dimension() == 384
    for mine, theirs in zip(vectors, reference, strict=True):
        assert cosine(mine, theirs) > (0.9999 if engine == "onnx" else 0.99)
        assert abs(math.sqrt(sum(x * x for x in mine)) - 1) < 1e-4  # normalised, as torch's
    # Exported once: a second embedder finds the files and names the same model files.
    again = OnnxEmbedder("all-MiniLM-L6-v2", engine=engine, cache_dir=models_dir)  # type: ignore[arg-type]
    assert await again.identity() == await onnx.identity()
    assert (await again.identity()).startswith(f"all-MiniLM-L6-v2@{engine}:")
    assert len(list(models_dir.iterdir())) == 1


def test_auto_picks_float32_onnx_which_kept_retrieval_quality() -> None:
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    assert choose_engine("auto", frozenset({"avx2", "avx512_vnni"})) == "onnx"
    assert choose_engine("onnx-int8") == "onnx-int8"
    assert choose_engine("torch") == "torch"


async def test_a_model_that_cannot_be_exported_runs_on_torch_and_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Only mean-pooled models are exported; a CLS-pooled one falls back to torch."""
    packaged = Path(LocalEmbedder._model_path("all-MiniLM-L6-v2"))
    model = tmp_path / "cls-model"
    model.mkdir()
    for item in packaged.iterdir():
        if item.name != "1_Pooling":
            (model / item.name).symlink_to(item)
    (model / "1_Pooling").mkdir()
    pooling = {"word_embedding_dimension": 384, "pooling_mode_cls_token": True}
    (model / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    embedder = OnnxEmbedder(str(model), engine="onnx", cache_dir=tmp_path / "models")
    with caplog.at_level(logging.WARNING):
        [vector] = await embedder.embed(["a pump"])
    assert len(vector) == 384
    assert embedder.engine == "torch (fallback: ValueError)"
    assert "only mean-pooled" in caplog.text

"""Knowledge and retrieval: embeddings, chunking, search."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
)


class KnowledgeSettings(BaseModel):
    """Knowledge: embeddings, chunks and hybrid search, and the sources documents are loaded from
    (URLs, SQL).
    """

    # all-MiniLM-L6-v2 (bundled), a sentence-transformers directory, or openai:<model> (an
    # OpenAI-compatible embeddings endpoint at OPENAI_BASE_URL).
    embedding_model: str = Field(
        default="all-MiniLM-L6-v2",
        description=(
            "`all-MiniLM-L6-v2` (bundled), a sentence-transformers directory, or "
            "`openai:<model>` (an OpenAI-compatible embeddings endpoint at "
            "`OPENAI_BASE_URL`)."
        ),
    )
    # auto: bfloat16 where the CPU has native bf16 (2.5x faster, same retrieval quality).
    embedding_precision: Literal["auto", "float32", "bfloat16"] = Field(
        default="auto",
        description=(
            "`auto`: bfloat16 where the CPU has it natively (~2.5x faster, same retrieval"
            " quality), else float32."
        ),
    )
    embedding_batch_size: int = Field(
        default=32, ge=1, le=1024, description="Texts embedded in one pass."
    )
    # auto: float32 ONNX (int8 missed the hybrid quality bar on SciFact); torch is the reference
    # and the fallback (docs/decisions/0036).
    embedding_engine: Literal["auto", "onnx-int8", "onnx", "torch"] = Field(
        default="auto",
        description=(
            "How a local embedding model runs: `auto` (float32 ONNX Runtime where installed), "
            "`onnx`, `onnx-int8` (faster; hybrid nDCG@10 0.008 lower on SciFact), or `torch` "
            "(the reference; also the fallback when the one-time ONNX export fails)."
        ),
    )
    embedding_cache: bool = Field(
        default=True,
        description=(
            "Keep document chunks' vectors in PostgreSQL keyed by model, engine and the "
            "SHA-256 of the text, so re-ingesting a text embeds it once."
        ),
    )
    chunk_chars: int = Field(
        default=1200,
        ge=200,
        le=20_000,
        description="The size of a knowledge chunk in characters (about the MiniLM window).",
    )
    chunk_overlap_chars: int = Field(
        default=150, ge=0, le=5_000, description="How much neighbouring chunks overlap."
    )
    # Weight of the keyword ranking against the dense one in hybrid search (chosen on SciFact's
    # train split, bench/README.md).
    keyword_weight: float = Field(
        default=1.0,
        ge=0.0,
        le=10.0,
        description=(
            "The keyword (BM25) ranking's weight against the dense one in hybrid search "
            "(chosen on SciFact's train split)."
        ),
    )
    # URL ingestion and http_fetch: hosts or networks (CIDR) allowed although not public.
    fetch_allow: list[str] = Field(
        default_factory=list,
        description=(
            "Hosts or networks (CIDR) that URL ingestion and `http_fetch` may reach "
            "although not public, as a JSON list."
        ),
    )
    fetch_timeout_s: float = Field(default=20.0, description="Time limit of one URL fetch.")
    fetch_max_bytes: int = Field(
        default=10 * 1024 * 1024, description="Size limit of one URL fetch."
    )
    # SQL ingestion sources: {"name": "postgresql://..."}; queries run read-only.
    sql_sources: dict[str, SecretStr] = Field(
        default_factory=dict,
        description=(
            'Databases for SQL ingestion and `sql_query`: `{"name": "postgresql://…"}`; '
            "queries run read-only."
        ),
    )
    sql_row_limit: int = Field(
        default=5000, ge=1, le=1_000_000, description="Rows one SQL query may return."
    )
    sql_timeout_s: float = Field(
        default=30.0, gt=0, le=3600, description="Statement timeout of one SQL query."
    )
    # The tenant that owns the sources configured here (AIOS_SQL_SOURCES, AIOS_MCP_SERVERS);
    # other tenants register their own through /v1/sources and /v1/mcp-servers.
    env_sources_tenant: str = Field(
        default="default",
        description=(
            "The tenant that owns `AIOS_SQL_SOURCES` and `AIOS_MCP_SERVERS` (other tenants "
            "register their own through `/v1/sources` and `/v1/mcp-servers`)."
        ),
    )

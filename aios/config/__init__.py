"""One settings class for every AIOS process, grouped by subsystem.

Each group (Temporal, stores, models, knowledge, tools, guardrails, worker tuning, the API and its
limits, security, clients, channels) is a class that declares its settings once, in this package's
modules (`infrastructure`, `llm`, `knowledge`, `tools`, `service`, `channels`; what they share in
`base`); `Settings`, here, is all of them,
flat: `settings.temporal_namespace` and `AIOS_TEMPORAL_NAMESPACE` name the same setting, and
`settings.temporal` is the Temporal group on its own (docs/decisions/0034-settings-groups.md).

Precedence, highest first: explicit constructor arguments, `AIOS_*` environment variables, `.env`,
`temporal-dev.yaml` (the dev stack's file), then the defaults below. Provider secrets use the
providers' own variable names (`OPENAI_API_KEY`, ...). Workflows never read settings: values they
need arrive in their input or through an activity.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, TypeVar

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from aios.config.base import (
    BUNDLED_MODEL,
    DEFAULT_MAX_GOAL_CHARS,
    DEV_CONFIG_FILE,
    LlmConfig,
    comma_separated,
)
from aios.config.channels import (
    NotificationSettings,
    SlackSettings,
    SlackTeam,
    TranscriptionSettings,
)
from aios.config.infrastructure import ProcessSettings, StoreSettings, TemporalSettings
from aios.config.knowledge import KnowledgeSettings
from aios.config.llm import LlmSettings
from aios.config.service import ApiSettings, ClientSettings, SecuritySettings, WorkerSettings
from aios.config.tools import (
    GuardrailSettings,
    ReportBucket,
    ReportDestinations,
    ReportEmail,
    ReportWebhook,
    ToolSettings,
    WebSearchOverride,
)
from aios.errors import ConfigurationError

_Group = TypeVar("_Group", bound=BaseModel)

# What `from aios.config import ...` finds: the settings class, its groups and what they use.
__all__ = [
    "BUNDLED_MODEL",
    "DEFAULT_MAX_GOAL_CHARS",
    "DEV_CONFIG_FILE",
    "ApiSettings",
    "ClientSettings",
    "GuardrailSettings",
    "KnowledgeSettings",
    "LlmConfig",
    "LlmSettings",
    "NotificationSettings",
    "ProcessSettings",
    "ReportBucket",
    "ReportDestinations",
    "ReportEmail",
    "ReportWebhook",
    "SecuritySettings",
    "Settings",
    "SlackSettings",
    "SlackTeam",
    "StoreSettings",
    "TemporalSettings",
    "ToolSettings",
    "TranscriptionSettings",
    "WebSearchOverride",
    "WorkerSettings",
    "comma_separated",
]


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

"""Settings: precedence and the defaults a new user relies on."""

from __future__ import annotations

import gc

import pytest

from aios.config import Settings
from aios.errors import ConfigurationError


def test_the_local_model_is_used_without_provider_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    settings = Settings()
    assert settings.model_fast == settings.model_strong == "local:smollm2"
    assert settings.uses_local_model


def test_a_provider_key_switches_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    settings = Settings()
    assert settings.model_fast.startswith("openai:") and not settings.uses_local_model
    monkeypatch.setenv("AIOS_MODEL_STRONG", "local:smollm2")
    assert Settings().model_strong == "local:smollm2", "explicit settings win"


def test_an_anthropic_key_alone_chooses_anthropic_models(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    settings = Settings()
    assert settings.model_fast.startswith("anthropic:") and not settings.uses_local_model


def test_model_prices_come_from_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIOS_MODEL_PRICES", '{"openai:my-model": [1.5, 6]}')
    assert Settings().llm_config().prices == {"openai:my-model": (1.5, 6.0)}


def test_bad_model_specs_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIOS_MODEL_FAST", "gpt-4")
    with pytest.raises(ValueError, match="provider:model"):
        Settings()


def test_unknown_providers_are_refused_when_settings_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIOS_MODEL_STRONG", "gemini:pro")
    with pytest.raises(ValueError, match=r"does not know; use one of openai:<model>, anthropic:"):
        Settings()


def test_cli_reaches_the_api_through_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIOS_API_URL", "http://api.example:9000")
    monkeypatch.setenv("AIOS_API_KEY", "k-123")
    settings = Settings()
    assert settings.api_url == "http://api.example:9000"
    assert settings.api_key is not None and settings.api_key.get_secret_value() == "k-123"
    assert "k-123" not in repr(settings), "the key is a secret"


def test_the_model_router_gets_only_what_it_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIOS_DATABASE_URL", "postgresql://u:secret@db/aios")
    config = Settings().llm_config()
    assert "database" not in config.model_dump_json()
    assert "secret" not in config.model_dump_json()


def test_missing_database_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIOS_DATABASE_URL", raising=False)
    with pytest.raises(ConfigurationError, match="aios dev"):
        Settings().require_database_url()


def test_dev_key_is_refused_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIOS_ENVIRONMENT", "production")
    monkeypatch.setenv("AIOS_DEV_API_KEY", "k")
    with pytest.raises(ConfigurationError, match="development convenience"):
        Settings().check_production_safety()


def test_worker_gc_thresholds_are_read_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().worker_gc_thresholds == [10_000, 10, 10]
    monkeypatch.setenv("AIOS_WORKER_GC_THRESHOLDS", "5000, 5")
    assert Settings().worker_gc_thresholds == [5000, 5]
    monkeypatch.setenv("AIOS_WORKER_GC_THRESHOLDS", "")
    assert Settings().worker_gc_thresholds == [], "empty: Python's own thresholds"
    for bad in ("0", "1,2,3,4", "10000,-1", "many"):
        monkeypatch.setenv("AIOS_WORKER_GC_THRESHOLDS", bad)
        with pytest.raises(ValueError, match="worker_gc_thresholds"):
            Settings()


def test_the_worker_tunes_the_garbage_collector() -> None:
    from workers.main import tune_garbage_collector

    before = gc.get_threshold()
    try:
        tune_garbage_collector(Settings(worker_gc_thresholds=[12_345, 6, 7]))
        assert gc.get_threshold() == (12_345, 6, 7)
        assert gc.get_freeze_count() > 0, "what startup built is left out of collections"
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_every_setting_belongs_to_one_group() -> None:
    owners: dict[str, list[str]] = {}
    for view, group in Settings.GROUPS.items():
        for name in group.model_fields:
            owners.setdefault(name, []).append(view)
    assert {n: v for n, v in owners.items() if len(v) > 1} == {}, "a setting in two groups"
    assert set(Settings.model_fields) == set(owners), "a setting declared outside the groups"
    for view, group in Settings.GROUPS.items():
        assert isinstance(getattr(Settings(), view), group), view


def test_groups_read_the_same_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIOS_TEMPORAL_NAMESPACE", "research")
    monkeypatch.setenv("AIOS_WORKER_QUEUES", "aios-agent, aios-llm")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    settings = Settings(max_concurrent_runs=3)
    assert settings.temporal.temporal_namespace == settings.temporal_namespace == "research"
    assert settings.worker.worker_queues == ["aios-agent", "aios-llm"]
    assert settings.llm.model_fast == "openai:gpt-4.1-mini", "the group's defaults apply"
    assert settings.api.max_concurrent_runs == 3
    assert settings.llm.llm_config() == settings.llm_config()
    assert "sk-test" not in repr(settings.llm), "secrets stay secret in a group"

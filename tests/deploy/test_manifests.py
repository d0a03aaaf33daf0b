"""deploy/ without a container engine: the compose file and the Kubernetes manifests parse, hold
together, set only settings the code reads, and run only commands that exist."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from aios import search_attributes as sa
from aios.config import Settings
from cli.main import build_parser

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
# Read by libraries or the platform rather than by Settings.
FOREIGN_ENV = {
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_SERVICE_NAME",
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_BASE_URL",
    "PYTHONUNBUFFERED",
    "PATH",
}
COMPOSE_TOP_LEVEL = {"services", "volumes", "networks", "configs", "secrets", "name"}


def _setting_exists(variable: str) -> bool:
    if variable in FOREIGN_ENV:
        return True
    if not variable.startswith("AIOS_"):
        return False
    return variable[5:].lower() in Settings.model_fields


def _aios_command_exists(command: list[str]) -> bool:
    verbs = next(
        action.choices
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    return command[0] == "aios" and command[1] in verbs


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    return loaded


def test_the_compose_file_holds_together(compose: dict[str, Any]) -> None:
    assert set(k for k in compose if not k.startswith("x-")) <= COMPOSE_TOP_LEVEL
    services: dict[str, Any] = compose["services"]
    declared_volumes = set(compose.get("volumes") or {})
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        for dependency in service.get("depends_on") or {}:
            assert dependency in services, f"{name} depends on unknown {dependency}"
        for volume in service.get("volumes") or []:
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in declared_volumes, f"{name} uses undeclared volume {source}"
        if service.get("restart") != "no":
            assert "healthcheck" in service or name in {
                "temporal-ui",
                "otel-collector",
                "jaeger",
            }, f"{name} has no health check"
    for required in (
        "temporal",
        "temporal-ui",
        "temporal-setup",
        "aios-db",
        "qdrant",
        "api",
        "worker-agent",
        "worker-llm",
        "worker-tools",
        "otel-collector",
        "jaeger",
    ):
        assert required in services


def test_compose_sets_only_settings_the_code_reads_and_keeps_secrets_out(
    compose: dict[str, Any],
) -> None:
    for name, service in compose["services"].items():
        if not str(service.get("image", "")).startswith("${AIOS_IMAGE"):
            continue
        for variable, value in (service.get("environment") or {}).items():
            assert _setting_exists(variable), f"{name} sets {variable}, which nothing reads"
            if any(word in variable for word in ("PASSWORD", "API_KEY", "SECRET")):
                assert str(value).startswith("${"), f"{name}: {variable} must come from the env"
        assert _aios_command_exists(service["command"]), service["command"]
    text = (DEPLOY / "docker-compose.yml").read_text()
    for secret in re.findall(r"(?:PASSWORD|PWD): (.+)", text):
        assert secret.strip().startswith("${"), f"a literal secret in compose: {secret}"


def test_workers_are_split_by_queue(compose: dict[str, Any]) -> None:
    services = compose["services"]
    served = {
        services[w]["environment"]["AIOS_WORKER_QUEUES"]
        for w in ("worker-agent", "worker-llm", "worker-tools")
    }
    env = services["api"]["environment"]
    assert served == {
        env["AIOS_TASK_QUEUE"],
        env["AIOS_LLM_TASK_QUEUE"],
        env["AIOS_TOOL_TASK_QUEUE"],
    }


def _k8s_documents() -> list[dict[str, Any]]:
    documents = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        documents += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return documents


def test_the_kubernetes_manifests_parse_and_reference_real_settings_and_commands() -> None:
    documents = _k8s_documents()
    kinds = {d["kind"] for d in documents}
    assert {
        "Deployment",
        "Service",
        "ConfigMap",
        "Secret",
        "Job",
        "HorizontalPodAutoscaler",
        "ScaledObject",
    } <= kinds
    for doc in documents:
        assert doc.get("apiVersion") and doc.get("metadata", {}).get("name"), doc
        if doc["kind"] in ("ConfigMap", "Secret") and doc["metadata"]["name"].startswith("aios-"):
            for variable in doc.get("data") or doc.get("stringData") or {}:
                if variable.isupper():
                    assert _setting_exists(variable), f"{variable} is read by nothing"
        if doc["kind"] == "Deployment":
            [container] = doc["spec"]["template"]["spec"]["containers"]
            assert _aios_command_exists(container["command"]), container["command"]
            assert container.get("readinessProbe") and container.get("livenessProbe")
            assert container["resources"]["requests"] and container["resources"]["limits"]
            assert doc["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"]
            for entry in container.get("env") or []:
                assert _setting_exists(entry["name"]), entry["name"]
    workers = {d["metadata"]["name"] for d in documents if d["kind"] == "Deployment"}
    scaled = {d["spec"]["scaleTargetRef"]["name"] for d in documents if d["kind"] == "ScaledObject"}
    assert scaled == {w for w in workers if "worker" in w}, "every worker pool scales on backlog"


def test_every_search_attribute_is_registered_with_its_type() -> None:
    wanted = {
        f"{key.name}={'Datetime' if key is sa.WAITING_SINCE else 'Keyword'}" for key in sa.ALL
    }
    for path in (
        DEPLOY / "register-search-attributes.sh",
        DEPLOY / "k8s" / "search-attributes-job.yaml",
    ):
        listed = set(re.findall(r"\bAios\w+=\w+", path.read_text()))
        assert listed == wanted, path


def test_the_image_is_built_from_the_project_runs_as_non_root_and_checks_health() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (?!--from)(\S+)", dockerfile, re.M):
        assert (DEPLOY.parent / source).exists(), f"COPY of a missing {source}"
    assert re.search(r"^USER (?!root|0\b)\S+", dockerfile, re.M)
    assert "HEALTHCHECK" in dockerfile
    cmd = re.search(r'^CMD \["(\w+)", "(\w+)"\]', dockerfile, re.M)
    assert cmd and _aios_command_exists([cmd.group(1), cmd.group(2)])
    for variable in re.findall(r"\b(AIOS_[A-Z_]+)=", dockerfile):
        assert _setting_exists(variable), variable

"""The runtime files: how `aios dev` tells client verbs started from the same directory where its
API listens and which development key it uses, and where a verb that keeps its terminal for its
own progress (`aios demo`) writes the servers' log. Kept light: client verbs import only this."""

from __future__ import annotations

import json
from pathlib import Path

from aios.config import Settings

RUNTIME_FILE = "runtime.json"


def runtime_path(settings: Settings) -> Path:
    return settings.resolved_data_dir / RUNTIME_FILE


def read_runtime(settings: Settings) -> dict[str, str]:
    try:
        info: dict[str, str] = json.loads(runtime_path(settings).read_text())
        return info
    except (OSError, ValueError):
        return {}


def write_runtime(settings: Settings, info: dict[str, str]) -> Path:
    """Written readable by the owner only: it holds the development key."""
    path = runtime_path(settings)
    path.write_text(json.dumps(info, indent=2))
    path.chmod(0o600)
    return path


def log_path(settings: Settings, command: str) -> Path:
    """`<data dir>/logs/<verb>.log`."""
    return settings.resolved_data_dir / "logs" / f"{command}.log"

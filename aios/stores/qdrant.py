"""Opening the stores the same way everywhere: Qdrant (server or local mode)."""

from __future__ import annotations

from qdrant_client import AsyncQdrantClient

from aios.config import Settings


def open_qdrant(settings: Settings) -> AsyncQdrantClient:
    """A Qdrant server when AIOS_QDRANT_URL is set, else local mode under the data dir.

    Local mode keeps its files locked by one process: in the dev stack the worker and the API
    share this client; extra worker processes need a Qdrant server.
    """
    if settings.qdrant_url:
        key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
        return AsyncQdrantClient(url=settings.qdrant_url, api_key=key)
    path = settings.resolved_data_dir / "qdrant"
    path.mkdir(parents=True, exist_ok=True)
    return AsyncQdrantClient(path=str(path))

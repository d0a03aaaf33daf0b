"""The prompt text a model call opens with: the code's, or the stored version a run is pinned to.

A run pinned to a prompt version (`RunVersions.prompts`, resolved by the API) reads that
version's text from PostgreSQL (`aios/stores/versions.py`) once per process; an unpinned run, or
one pinned to the code's current text, reads nothing.
"""

from __future__ import annotations

import functools

import asyncpg

from aios.errors import ValidationFailed
from aios.stores.versions import VersionStore
from aios.versions import RunVersions, content_hash


@functools.lru_cache(maxsize=64)
def _hash_of(text: str) -> str:
    return content_hash(text)


class PromptTexts:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._store = VersionStore(pool)
        self._texts: dict[tuple[str, str, str], str] = {}

    async def text(self, tenant: str, versions: RunVersions | None, name: str, current: str) -> str:
        """The text of prompt `name` for a run: `current` (the code's) unless the run is pinned
        to another version."""
        wanted = versions.prompts.get(name) if versions is not None else None
        if not wanted or wanted == _hash_of(current):
            return current
        key = (tenant, name, wanted)
        if key not in self._texts:
            text = await self._store.text(tenant, "prompt", name, wanted)
            if text is None:  # the API checked it: only a deleted row gets here
                raise ValidationFailed(
                    f"the run is pinned to version {wanted[:12]} of the {name} prompt, which is "
                    "not stored here"
                )
            self._texts[key] = text
        return self._texts[key]

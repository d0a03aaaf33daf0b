"""Versions as the API sees them: the code's current prompts and skills (kept in PostgreSQL the
first time this process sees them), listing, registering a candidate prompt, and resolving a
run's pins into `RunVersions` before it starts (an unknown version is a 422 then, never a failed
run later). The resolving itself is activities/versions.py's, which the planning activity shares.
"""

from __future__ import annotations

from dataclasses import dataclass

from activities.versions import VersionResolver, check_model
from aios.errors import Conflict, ValidationFailed
from aios.versions import PROMPTS, VersionInfo, content_hash

__all__ = ["VersionService", "check_model"]


@dataclass
class VersionService(VersionResolver):
    """The resolver (activities/versions.py), plus listing and registering candidates."""

    async def list(self, tenant: str, kind: str | None = None) -> list[VersionInfo]:
        await self.ensure()
        return await self.store.list(tenant, self._latest_pairs(), kind=kind)

    async def register_prompt(
        self, tenant: str, name: str, label: str, text: str, created_by: str
    ) -> VersionInfo:
        """A candidate text for prompt `name` under `label`, for this tenant's runs to pin."""
        if name not in PROMPTS:
            raise ValidationFailed(
                f"unknown prompt {name!r}; prompts: {', '.join(sorted(PROMPTS))}"
            )
        await self.ensure()
        digest = content_hash(text)
        kept, new = await self.store.register(
            "prompt", name, text, digest, tenant=tenant, label=label, created_by=created_by
        )
        if not new and kept != label:  # the text exists already, under another label
            raise Conflict(f"this {name} prompt is already version {kept!r}")
        known = await self.store.list(tenant, self._latest_pairs(), kind="prompt")
        return next(v for v in known if v.name == name and v.hash == digest)

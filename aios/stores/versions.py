"""The texts of every prompt and skill version seen, so a pin can run an older one.

Versions the code ships are kept under tenant '' (every tenant sees them); candidates registered
through the API under their tenant. A version is stored once (its hash); its label is chosen when
it is first stored, under a per-name advisory lock so two processes starting together agree.
"""

from __future__ import annotations

import asyncpg

from aios.db import transient_on_connection_loss
from aios.errors import Conflict
from aios.versions import SHORT, VersionInfo, VersionKind

CODE_TENANT = ""
_COLUMNS = "kind, name, hash, label, source, created_by, created_at"


def _info(row: asyncpg.Record, latest: set[tuple[str, str]]) -> VersionInfo:
    return VersionInfo(
        kind=row["kind"],
        name=row["name"],
        hash=row["hash"],
        short=row["hash"][:SHORT],
        label=row["label"],
        latest=(row["name"], row["hash"]) in latest,
        source=row["source"],
        created_by=row["created_by"],
        created_at=row["created_at"],
    )


class VersionStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @transient_on_connection_loss
    async def register(
        self,
        kind: VersionKind,
        name: str,
        text: str,
        content_hash: str,
        *,
        tenant: str = CODE_TENANT,
        label: str | None = None,
        created_by: str | None = None,
    ) -> tuple[str, bool]:
        """Keep this text (once); returns its label and whether it was new. Without a label a
        prompt gets `v<n>`; a label already taken by another text gets the hash appended (code
        versions) or is refused (Conflict) for a registered one."""
        source = "code" if tenant == CODE_TENANT else "registered"
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"{kind}/{name}")
            existing = await conn.fetchval(
                "SELECT label FROM versions WHERE tenant = ANY($1::text[]) AND kind = $2"
                " AND name = $3 AND hash = $4 ORDER BY tenant LIMIT 1",
                sorted({CODE_TENANT, tenant}),
                kind,
                name,
                content_hash,
            )
            if existing is not None:
                return str(existing), False
            if label is None:
                count = await conn.fetchval(
                    "SELECT count(*) FROM versions WHERE tenant = $1 AND kind = $2 AND name = $3",
                    tenant,
                    kind,
                    name,
                )
                label = f"v{count + 1}"
            holder = await conn.fetchval(
                "SELECT hash FROM versions WHERE tenant = ANY($1::text[]) AND kind = $2"
                " AND name = $3 AND label = $4 LIMIT 1",
                sorted({CODE_TENANT, tenant}),
                kind,
                name,
                label,
            )
            if holder is not None:
                if source == "registered":
                    raise Conflict(
                        f"the label {label!r} of {kind} {name!r} is taken by {holder[:12]}"
                    )
                label = f"{label}-{content_hash[:8]}"
            await conn.execute(
                "INSERT INTO versions (tenant, kind, name, hash, label, text, source, created_by)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                tenant,
                kind,
                name,
                content_hash,
                label,
                text,
                source,
                created_by,
            )
            return label, True

    @transient_on_connection_loss
    async def list(
        self, tenant: str, latest: set[tuple[str, str]], *, kind: str | None = None
    ) -> list[VersionInfo]:
        """The versions `tenant` sees (the code's and its own), by kind, name and age;
        `latest` holds the (name, hash) of what runs use by default."""
        rows = await self._pool.fetch(
            f"SELECT {_COLUMNS} FROM versions WHERE tenant = ANY($1::text[])"
            " AND ($2::text IS NULL OR kind = $2) ORDER BY kind, name, created_at, label",
            sorted({CODE_TENANT, tenant}),
            kind,
        )
        return [_info(r, latest) for r in rows]

    @transient_on_connection_loss
    async def text(self, tenant: str, kind: str, name: str, content_hash: str) -> str | None:
        """The text of one version `tenant` may use."""
        value = await self._pool.fetchval(
            "SELECT text FROM versions WHERE tenant = ANY($1::text[]) AND kind = $2"
            " AND name = $3 AND hash = $4 LIMIT 1",
            sorted({CODE_TENANT, tenant}),
            kind,
            name,
            content_hash,
        )
        return None if value is None else str(value)

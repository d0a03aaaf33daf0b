"""Versions of prompts and skills (`aios/versions.py`): what a run can pin.

Any key lists them (the code's versions and its tenant's candidates). Registering a candidate
prompt text is for operators and admins: it changes what their tenant's runs can be pinned to
(never what an unpinned run uses), so a user cannot slip a prompt into a colleague's run.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from aios.errors import Forbidden
from aios.versions import RegisterVersion, VersionInfo, VersionList
from api.authz import sees_all_users
from api.deps import PrincipalDep
from api.run_service import RunsDep

router = APIRouter(prefix="/v1/versions", tags=["versions"])


@router.get("", response_model=VersionList)
async def list_versions(
    principal: PrincipalDep,
    runs: RunsDep,
    kind: Annotated[Literal["prompt", "skill"] | None, Query()] = None,
) -> VersionList:
    """Every version of every prompt and skill this tenant can pin, oldest first per name;
    `latest` marks what runs use when they pin nothing."""
    return VersionList(versions=await runs.versions.list(principal.tenant, kind))


@router.post("", response_model=VersionInfo, status_code=201)
async def register_version(
    body: RegisterVersion, principal: PrincipalDep, runs: RunsDep
) -> VersionInfo:
    """A candidate text for a prompt under a label, for this tenant's runs and evals to pin
    (`versions: {system: candidate}`). Operators and admins only; 409 when the label is taken
    or the text is already a version."""
    if not sees_all_users(principal):
        raise Forbidden("registering a prompt version needs the operator or admin role")
    return await runs.versions.register_prompt(
        principal.tenant, body.name, body.label, body.text, principal.user_id
    )

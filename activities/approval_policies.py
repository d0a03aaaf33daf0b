"""Which approval policy applies to an approval about to open: the tenant's (PostgreSQL), else
the repository's defaults (policies/approvals.yaml), for the run's schedule, skill or tool
(aios/approval_policies.py has the order and why)."""

from __future__ import annotations

import asyncpg
from temporalio import activity

from activities.common import classified
from aios.approval_policies import (
    AppliedPolicy,
    PolicyFileError,
    PolicyRequest,
    StoredPolicy,
    applying,
    dev_self_approval,
    load_repo_policies,
)
from aios.config import Settings
from aios.errors import ConfigurationError
from aios.stores.approval_policies import PolicyStore
from aios.vocabulary import Activity


class PolicyActivities:
    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self._store = PolicyStore(pool)
        self._file = settings.approval_policies_file
        self._self_approval = dev_self_approval(settings.dev_api_key is not None)
        self._repo: list[StoredPolicy] | None = None

    def repo_policies(self) -> list[StoredPolicy]:
        """The repository's defaults, read once per worker (a bad file fails every approval
        with the file's problem instead of silently applying no policy)."""
        if self._repo is None:
            try:
                self._repo = load_repo_policies(self._file)
            except PolicyFileError as e:
                raise ConfigurationError(f"the approval policy file is unusable: {e}") from None
        return self._repo

    @activity.defn(name=Activity.APPROVAL_POLICY)
    @classified
    async def approval_policy(self, request: PolicyRequest) -> AppliedPolicy | None:
        """The policy for this approval and who may answer their own run (`applying`), or
        None: the plan's own `approval:` applies, with four eyes."""
        tenant = await self._store.all(request.tenant) if request.terms else []
        return applying(request, tenant, self.repo_policies(), self._self_approval)

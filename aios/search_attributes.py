"""Custom search attributes that make runs filterable in the Temporal UI and the API.

Registered by `temporal-dev.yaml` for the dev server and by `deploy/` for a cluster.
"""

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from aios.vocabulary import RunStatus

TENANT = SearchAttributeKey.for_keyword("AiosTenant")
USER = SearchAttributeKey.for_keyword("AiosUser")
STATUS = SearchAttributeKey.for_keyword("AiosStatus")
# Since when a run waits for a person (set while it awaits approval): the Temporal UI can sort by
# it, and `aios_oldest_approval_age_seconds` is read from it.
WAITING_SINCE = SearchAttributeKey.for_datetime("AiosWaitingSince")

ALL = (TENANT, USER, STATUS, WAITING_SINCE)


def owned_by(tenant: str, user_id: str, status: RunStatus | None = None) -> TypedSearchAttributes:
    """The attributes a workflow AIOS starts carries from its first moment: whose it is (every
    read filters on the tenant) and, for runs, that it is queued."""
    pairs = [SearchAttributePair(TENANT, tenant), SearchAttributePair(USER, user_id)]
    if status is not None:
        pairs.append(SearchAttributePair(STATUS, status.value))
    return TypedSearchAttributes(pairs)

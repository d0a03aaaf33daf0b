"""Custom search attributes that make runs filterable in the Temporal UI and the API.

Registered by `temporal-dev.yaml` for the dev server and by `deploy/` for a cluster.
"""

from temporalio.common import SearchAttributeKey

TENANT = SearchAttributeKey.for_keyword("AiosTenant")
USER = SearchAttributeKey.for_keyword("AiosUser")
STATUS = SearchAttributeKey.for_keyword("AiosStatus")

ALL = (TENANT, USER, STATUS)

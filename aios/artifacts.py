"""The artifact store: large Temporal payloads kept in PostgreSQL and passed by reference.

It plugs into the SDK's external storage (`DataConverter.external_storage`): every payload the
client or a worker sends that is larger than the threshold (default 64 KiB) — workflow inputs,
activity arguments and results, step outputs, query answers — is written to the `artifacts` table
and replaced in the history by a small claim. Whoever reads the history (a worker replaying it, the
API decoding a query) fetches the payload back transparently. Histories therefore stay small no
matter how large documents or reports get, and no step has to remember to offload its output.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence

import asyncpg
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    ExternalStorage,
    JSONPlainPayloadConverter,
    StorageDriver,
    StorageDriverClaim,
    StorageDriverRetrieveContext,
    StorageDriverStoreContext,
    StorageDriverWorkflowInfo,
)

from aios.stores.artifacts import Artifact, ArtifactStore

# One pydantic JSON converter for the whole process. The SDK builds a new payload converter for
# every workflow run and every activity attempt (each `DataConverter` it derives makes one), and a
# new `PydanticJSONPlainPayloadConverter` starts with an empty cache of pydantic `TypeAdapter`s:
# every run generated the validation schema of its input and of each activity's result again
# (~0.5 ms of the worker's CPU per run in the throughput benchmark, bench/README.md). Adapters
# are immutable once built and the models they validate are shared with the workflow sandbox.
_PYDANTIC_JSON = PydanticJSONPlainPayloadConverter()


class PayloadConverter(CompositePayloadConverter):
    """Temporal's default encodings, with JSON by pydantic (`pydantic_data_converter`'s), whose
    type adapters are built once per process."""

    def __init__(self) -> None:
        super().__init__(
            *(
                _PYDANTIC_JSON if isinstance(c, JSONPlainPayloadConverter) else c
                for c in DefaultPayloadConverter.default_encoding_payload_converters
            )
        )


AIOS_DATA_CONVERTER = DataConverter(payload_converter_class=PayloadConverter)


class PostgresArtifactDriver(StorageDriver):
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._store = ArtifactStore(pool)

    def name(self) -> str:
        return "aios-postgres"

    def type(self) -> str:
        return "aios.postgres-artifacts"

    async def store(
        self, context: StorageDriverStoreContext, payloads: Sequence[Payload]
    ) -> list[StorageDriverClaim]:
        target = context.target
        workflow_id = target.id if isinstance(target, StorageDriverWorkflowInfo) else None
        artifacts = []
        for payload in payloads:
            data = payload.SerializeToString(deterministic=True)
            artifact_id = "sha256:" + hashlib.sha256(data).hexdigest()
            artifacts.append(Artifact(id=artifact_id, data=data, workflow_id=workflow_id))
        await self._store.put_many(artifacts)
        return [StorageDriverClaim(claim_data={"artifact_id": a.id}) for a in artifacts]

    async def retrieve(
        self, context: StorageDriverRetrieveContext, claims: Sequence[StorageDriverClaim]
    ) -> list[Payload]:
        ids = [c.claim_data["artifact_id"] for c in claims]
        found = await self._store.get_many(ids)
        result: list[Payload] = []
        for artifact_id in ids:
            if artifact_id not in found:
                raise LookupError(f"artifact {artifact_id} is missing from the artifact store")
            payload = Payload()
            payload.ParseFromString(found[artifact_id])
            result.append(payload)
        return result


def data_converter(pool: asyncpg.Pool | None, *, threshold_bytes: int) -> DataConverter:
    """The converter every AIOS client and worker uses: pydantic JSON, large payloads offloaded.

    Without a pool (e.g. a CLI that never touches Temporal directly) payloads stay inline.
    """
    if pool is None:
        return AIOS_DATA_CONVERTER
    storage = ExternalStorage(
        drivers=[PostgresArtifactDriver(pool)], payload_size_threshold=threshold_bytes
    )
    return dataclasses.replace(AIOS_DATA_CONVERTER, external_storage=storage)

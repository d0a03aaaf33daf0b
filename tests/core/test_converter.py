"""The data converter every AIOS client and worker uses (aios/artifacts.py)."""

from __future__ import annotations

import dataclasses

from aios.artifacts import _PYDANTIC_JSON, data_converter
from aios.models import StepResult, Usage


def test_converters_the_sdk_derives_share_one_cache_of_type_adapters() -> None:
    """The SDK derives a new data converter (and so a new payload converter) for every workflow
    run and activity attempt; pydantic's validators for the models must not be rebuilt each time."""
    base = data_converter(None, threshold_bytes=65536)
    result = StepResult(output={"text": "done"}, usage=Usage(input_tokens=3))
    payloads = base.payload_converter.to_payloads([result])
    base.payload_converter.from_payloads(payloads, [StepResult])
    cache = _PYDANTIC_JSON._type_adapter
    built, hits = cache.cache_info().currsize, cache.cache_info().hits

    for _ in range(3):
        derived = dataclasses.replace(base)  # what the SDK does per run and per activity
        assert derived.payload_converter is not base.payload_converter
        [decoded] = derived.payload_converter.from_payloads(payloads, [StepResult])
        assert decoded == result

    assert cache.cache_info().currsize == built  # nothing built again
    assert cache.cache_info().hits == hits + 3  # each derived converter used the shared one

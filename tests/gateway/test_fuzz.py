"""A property-based fuzz of the OpenAPI document (schemathesis): cases generated from every
operation's schema, valid and not, sent over HTTP to the real API on the real stack. No answer may
be a 5xx, and every error must be problem+json."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.core.result import Ok

from tests.conftest import AUTH, REPO, Stack, app_for, serving

# Streams that never end on their own; fuzzed elsewhere by their own tests.
LEFT_OUT = {("GET", "/v1/runs/{run_id}/events")}
EXAMPLES_PER_OPERATION = 12


def _fuzz(raw_schema: dict[str, Any], base_url: str) -> list[str]:
    schema = schemathesis.openapi.from_dict(raw_schema)
    failures: list[str] = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        operation = result.ok()
        if (operation.method.upper(), operation.path) in LEFT_OUT:
            continue

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            response = case.call(base_url=base_url, headers=dict(AUTH), timeout=60)
            label = f"{case.method} {case.formatted_path} -> {response.status_code}"
            if response.status_code >= 500:
                failures.append(f"{label}: {response.text[:300]}")
            elif response.status_code >= 400:
                media = response.headers.get("content-type") or [""]
                media = media[0] if isinstance(media, list) else media
                if not media.startswith("application/problem+json"):
                    failures.append(f"{label}: not problem+json ({media})")

        check()
    return failures


async def test_no_operation_answers_a_5xx_to_generated_requests(
    stack: Stack, tmp_path: Path
) -> None:
    async with serving(app_for(stack)) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            (tmp_path / "openapi.json").write_text((await http.get("/openapi.json")).text)
        # The fuzzer runs in a process of its own: hypothesis compiles code as it goes, and
        # CPython 3.11 can fail ("AST constructor recursion depth mismatch") when another thread
        # of this process (the worker's workflow sandbox) compiles at the same moment.
        fuzzer = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.gateway.test_fuzz",
            str(tmp_path / "openapi.json"),
            url,
            cwd=REPO,
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(fuzzer.communicate(), timeout=600)
        assert fuzzer.returncode == 0, "the fuzzer itself failed"
        failures: list[str] = json.loads(out.decode().strip().splitlines()[-1])
        # What the fuzz started: cancel the runs and remove schedules, so later tests start clean.
        async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=60) as http:
            for schedule in (await http.get("/v1/schedules")).json()["schedules"]:
                await http.delete(f"/v1/schedules/{schedule['schedule_id']}")
            for run in (await http.get("/v1/runs", params={"status": "running"})).json()["runs"]:
                await http.post(f"/v1/runs/{run['run_id']}/cancel")
    assert not failures, "\n".join(failures)


if __name__ == "__main__":
    print(json.dumps(_fuzz(json.loads(Path(sys.argv[1]).read_text()), sys.argv[2])))

"""Documents and search through the API on a real stack: ingestion jobs, idempotency and
replacement, delete, every loader through uploads, URLs (SSRF-safe), SQL sources, tenant
isolation, citations and verbatim quotes."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from aios.models import IngestInput, IngestItem, StepOutputQuery
from aios.stores import DocumentStore
from aios.stores.documents import document_id_for
from tests.conftest import Stack, api_client, app_for, run_id, running_stack
from tests.helpers import finish, start_plan
from tests.knowledge.test_parts import http_server, minimal_pdf
from workflows.agent_run import AgentRunWorkflow
from workflows.ingest import IngestWorkflow

PUMPS = (
    "# Pump maintenance\n\nThe centrifugal pump P-7 needs new seals every 4,000 hours. "
    "Vibration above 7 mm/s means the bearings are worn.\n\n## Startup\n\n"
    "Prime the pump before starting it, or the impeller runs dry."
)
LEAVE = "# Leave policy\n\nStaff get 30 days of paid leave. Unused days expire in March."


async def wait_job(api: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    for _ in range(600):
        job: dict[str, Any] = (await api.get(f"/v1/documents/jobs/{job_id}")).json()
        if job["status"] in ("completed", "failed"):
            return job
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {job}")


async def ingest(api: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await api.post("/v1/documents", json=body)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] == "queued" and accepted["links"]["self"].endswith(accepted["job_id"])
    return {**await wait_job(api, accepted["job_id"]), "documents": accepted["documents"]}


async def search(api: httpx.AsyncClient, q: str, **params: Any) -> list[dict[str, Any]]:
    response = await api.get("/v1/search", params={"q": q, **params})
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


async def test_json_documents_are_ingested_searched_cited_and_quoted(
    api: httpx.AsyncClient,
) -> None:
    job = await ingest(
        api,
        documents=[
            {"text": PUMPS, "source": "ops/pumps", "metadata": {"team": "ops"}},
            {"text": LEAVE, "title": "Leave", "source": "hr/leave"},
        ],
    )
    assert job["status"] == "completed" and job["total"] == 2 and job["done"] == 2
    assert job["failed"] == 0 and job["chunks"] >= 2

    for mode in ("hybrid", "dense", "keyword"):
        hits = await search(api, "when do pump seals need replacing", mode=mode, k=3)
        assert hits[0]["source"] == "ops/pumps", (mode, hits)
        assert hits[0]["title"] == "Pump maintenance"
    hits = await search(api, "vacation days", quotes=2, full_text=True)
    top = hits[0]
    assert top["source"] == "hr/leave" and top["title"] == "Leave"
    # Citations point at real chunks of real documents.
    assert top["chunk_id"].startswith(top["document_id"] + "#")
    document = (await api.get(f"/v1/documents/{top['document_id']}")).json()
    assert document["source"] == "hr/leave" and document["chunks"] >= 1
    # Quotes are verbatim, with offsets into their chunk.
    assert top["quotes"]
    for quote in top["quotes"]:
        assert top["text"][quote["start"] : quote["end"]] == quote["text"]
        assert quote["chunk_id"] == top["chunk_id"]
    listing = (await api.get("/v1/documents")).json()
    assert {d["source"] for d in listing["documents"]} == {"ops/pumps", "hr/leave"}
    pumps = next(d for d in listing["documents"] if d["source"] == "ops/pumps")
    assert pumps["metadata"] == {"team": "ops"} and pumps["title"] == "Pump maintenance"


async def test_same_content_adds_nothing_changed_content_replaces_delete_removes(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    index = stack.resources.index
    first = await ingest(api, documents=[{"text": PUMPS, "source": "ops/pumps"}])
    [doc_id] = first["documents"]
    chunks = await index.chunk_count("default", doc_id)
    assert chunks == first["chunks"] >= 2

    again = await ingest(api, documents=[{"text": PUMPS, "source": "ops/pumps"}])
    assert again["unchanged"] == 1 and again["chunks"] == first["chunks"]
    assert await index.chunk_count("default", doc_id) == chunks

    changed = await ingest(
        api,
        documents=[
            {
                "text": "# Pump maintenance\n\nPump P-9 uses magnetic couplings.",
                "source": "ops/pumps",
            }
        ],
    )
    assert changed["documents"] == [doc_id] and changed["unchanged"] == 0
    assert await index.chunk_count("default", doc_id) == 1  # the extra chunks are gone
    hits = await search(api, "impeller runs dry prime", mode="keyword")
    assert not hits, "the old text is no longer indexed"
    assert (await search(api, "magnetic couplings"))[0]["document_id"] == doc_id

    # A text with no source gets a content hash as its source: sending it twice is one document.
    twice = await ingest(api, documents=[{"text": LEAVE}])
    once_more = await ingest(api, documents=[{"text": LEAVE}])
    assert twice["documents"] == once_more["documents"] and once_more["unchanged"] == 1

    deleted = await api.delete(f"/v1/documents/{doc_id}")
    assert deleted.status_code == 200 and deleted.json()["deleted_chunks"] == 1
    assert (await api.get(f"/v1/documents/{doc_id}")).status_code == 404
    assert await index.chunk_count("default", doc_id) == 0
    assert all(h["document_id"] != doc_id for h in await search(api, "magnetic couplings"))
    assert (await api.delete(f"/v1/documents/{doc_id}")).status_code == 404


async def test_every_file_type_uploads_and_a_bad_file_fails_alone(api: httpx.AsyncClient) -> None:
    files = [
        ("files", ("notes/readme.txt", b"Plain text about the night shift rota.", "text/plain")),
        ("files", ("guide.md", b"# Guide\n\nMarkdown about onboarding.", "text/markdown")),
        (
            "files",
            (
                "page.html",
                b"<title>Intranet</title><h1>Canteen</h1><p>Lunch at noon.</p>",
                "text/html",
            ),
        ),
        ("files", ("report.pdf", minimal_pdf("Revenue grew nine percent"), "application/pdf")),
        ("files", ("asset.json", b'{"title": "Crane C-2", "load": "12 t"}', "application/json")),
        ("files", ("staff.csv", b"name,desk\nAda,4.12\n", "text/csv")),
        ("files", ("broken.json", b"{nope", "application/json")),
    ]
    response = await api.post("/v1/documents", files=files)
    assert response.status_code == 202, response.text
    job = await wait_job(api, response.json()["job_id"])
    assert job["status"] == "completed" and job["done"] == 6 and job["failed"] == 1
    assert len(job["errors"]) == 1 and "broken.json" in job["errors"][0]
    assert "not valid JSON" in job["errors"][0]
    titles = {d["source"]: d["title"] for d in (await api.get("/v1/documents")).json()["documents"]}
    assert titles == {
        "notes/readme.txt": "readme",
        "guide.md": "Guide",
        "page.html": "Intranet",
        "report.pdf": "report",
        "asset.json": "Crane C-2",
        "staff.csv": "staff",
    }
    assert (await search(api, "revenue growth"))[0]["source"] == "report.pdf"
    assert (await search(api, "crane load"))[0]["source"] == "asset.json"


async def test_bad_requests_get_problems_and_nothing_is_started(api: httpx.AsyncClient) -> None:
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"content": b"hello", "headers": {"Content-Type": "text/plain"}}, 415, "application/json"),
        ({"json": {}}, 422, "exactly one of"),
        ({"json": {"documents": []}}, 422, "documents"),
        ({"json": {"documents": [{"text": ""}]}}, 422, "documents.0.text"),
        (
            {"json": {"documents": [{"text": "a", "source": "x"}, {"text": "b", "source": "x"}]}},
            422,
            "twice",
        ),
        ({"json": {"urls": ["ftp://example.com/x"]}}, 422, "urls.0"),
        # A source the tenant does not have is 404, as another tenant's is.
        ({"json": {"sql": [{"database": "nope", "query": "SELECT 1"}]}}, 404, "no SQL source"),
        ({"json": {"documents": [{"text": "x", "metadata": {"k": "v" * 9000}}]}}, 422, "metadata"),
        ({"files": [("other", ("", b"x"))]}, 422, "no files"),
        ({"json": {"documents": [{"text": "x"}] * 1001}}, 422, "documents"),
    ]
    for kwargs, status, words in cases:
        response = await api.post("/v1/documents", **kwargs)
        assert response.status_code == status, (kwargs.keys(), response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert words in response.json()["detail"], response.json()
    assert (await api.get("/v1/documents")).json()["documents"] == []
    assert (await api.get("/v1/documents/jobs/ingest-nope")).status_code == 404
    assert (await api.get("/v1/documents", params={"page_token": "garbage"})).status_code == 422
    assert (await api.get("/v1/search", params={"q": ""})).status_code == 422
    assert (await api.get("/v1/search", params={"q": "x", "mode": "magic"})).status_code == 422


async def test_documents_page_through_in_order(api: httpx.AsyncClient) -> None:
    await ingest(
        api, documents=[{"text": f"Document number {i}.", "source": f"d{i}"} for i in range(7)]
    )
    seen: list[str] = []
    token = None
    while True:
        params: dict[str, Any] = {"page_size": 3, **({"page_token": token} if token else {})}
        page = (await api.get("/v1/documents", params=params)).json()
        seen += [d["source"] for d in page["documents"]]
        token = page["next_page_token"]
        if not token:
            break
    assert sorted(seen) == [f"d{i}" for i in range(7)] and len(seen) == 7


@contextlib.asynccontextmanager
async def api_with(
    stack: Stack, env: WorkflowEnvironment, **settings: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """The API over a worker that runs with other settings (allow-lists, SQL sources)."""
    other = stack.settings.model_copy(
        update={
            **settings,
            "task_queue": f"{stack.settings.task_queue}-b",
            # Its own embedded index: an Edge shard belongs to one process and one owner.
            "data_dir": stack.settings.data_dir / "second",
        }
    )
    async with (
        running_stack(other, stack.pool, env, stack.resources.embedder) as second,
        api_client(app_for(second)) as api,
    ):
        yield api


async def test_urls_are_fetched_only_where_allowed(
    stack: Stack, temporal_env: WorkflowEnvironment
) -> None:
    # A page with the site's navigation and footer around its main text, as pages are.
    handbook = (
        b"<html><head><title>Handbook | Acme</title></head><body>"
        b"<nav><a href='/'>Home</a> <a href='/careers'>Careers at Acme</a></nav>"
        b"<article><h1>Handbook</h1>"
        b"<p>Fire drills are on Fridays at ten in the morning, and everybody leaves the building "
        b"by the nearest stairs, never the lifts.</p>"
        b"<p>The assembly point is the car park behind the warehouse, where the floor wardens "
        b"count their teams and report anyone missing to the fire marshal.</p></article>"
        b"<footer>Copyright Acme Corporation. Cookie settings. Subscribe to our newsletter."
        b"</footer></body></html>"
    )
    routes = {
        "/handbook.html": (200, {"Content-Type": "text/html"}, handbook),
        "/private/salaries.html": (200, {"Content-Type": "text/html"}, b"<p>Salaries</p>"),
        "/robots.txt": (
            200,
            {"Content-Type": "text/plain"},
            b"User-agent: *\nDisallow: /private/\n",
        ),
        "/sneaky": (302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b""),
    }
    with http_server(routes) as base:
        async with api_client(app_for(stack)) as api:  # loopback is not allow-listed
            job = await ingest(api, urls=[f"{base}/handbook.html"])
            assert job["status"] == "failed" and job["failed"] == 1
            assert "not a public address" in job["errors"][0]
        async with api_with(stack, temporal_env, fetch_allow=["127.0.0.1"]) as api:
            job = await ingest(
                api,
                urls=[f"{base}/handbook.html", f"{base}/sneaky", f"{base}/private/salaries.html"],
            )
            assert job["done"] == 1 and job["failed"] == 2
            errors = " ".join(job["errors"])
            assert "169.254.169.254" in errors
            assert "disallowed by" in errors and "robots.txt" in errors, errors
            hits = await search(api, "when are fire drills", full_text=True)
            assert hits[0]["source"] == f"{base}/handbook.html"
            assert hits[0]["title"] == "Handbook"
            # The page's main text, read as http_fetch reads it: no navigation, no footer.
            kept = " ".join(hit["text"] for hit in hits)
            assert "assembly point" in kept, hits
            assert "Careers" not in kept and "Cookie" not in kept, kept


async def test_sql_rows_become_documents_read_only(
    stack: Stack, temporal_env: WorkflowEnvironment, pg_url: str
) -> None:
    await stack.pool.execute(
        "DROP TABLE IF EXISTS kb_people; CREATE TABLE kb_people (id int, name text, bio text);"
        "INSERT INTO kb_people VALUES (1, 'Ada', 'Writes the payroll service.'),"
        " (2, 'Grace', 'Runs the compiler team.')"
    )
    async with api_with(stack, temporal_env, sql_sources={"hr": SecretStr(pg_url)}) as api:
        job = await ingest(
            api,
            sql=[
                {
                    "database": "hr",
                    "query": "SELECT id, name, bio FROM kb_people ORDER BY id",
                    "id_column": "id",
                    "title_column": "name",
                }
            ],
        )
        assert job["status"] == "completed" and job["done"] == 2
        hits = await search(api, "who works on the compiler")
        assert hits[0]["title"] == "Grace" and hits[0]["source"] == "sql:hr:2"
        refused = await ingest(
            api, sql=[{"database": "hr", "query": "DELETE FROM kb_people RETURNING *"}]
        )
        assert refused["status"] == "failed" and "read-only" in refused["errors"][0]
    assert await stack.pool.fetchval("SELECT count(*) FROM kb_people") == 2


async def test_a_tenant_never_sees_another_tenants_documents(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    await ingest(api, documents=[{"text": LEAVE, "source": "hr/leave"}])
    # Another tenant's document, ingested below the API (the dev key is tenant `default`).
    secret = b"# Merger\n\nProject Falcon acquires Initech in May; staff get 30 days notice."
    sha = hashlib.sha256(secret).hexdigest()
    await DocumentStore(stack.pool).put_uploads("other", {sha: secret})
    other_id = document_id_for("other", "falcon.md")
    await stack.client.execute_workflow(
        IngestWorkflow.run,
        IngestInput(
            tenant="other",
            items=[
                IngestItem(
                    document_id=other_id, source="falcon.md", name="falcon.md", upload_sha256=sha
                )
            ],
        ),
        id=f"ingest-{run_id()}",
        task_queue=stack.settings.task_queue,
    )
    assert await stack.resources.index.chunk_count("other", other_id) == 1
    for mode in ("hybrid", "dense", "keyword"):
        hits = await search(api, "Project Falcon merger Initech", mode=mode, k=50)
        assert all(h["document_id"] != other_id for h in hits), mode
    assert (await api.get(f"/v1/documents/{other_id}")).status_code == 404
    assert (await api.delete(f"/v1/documents/{other_id}")).status_code == 404
    assert [d["source"] for d in (await api.get("/v1/documents")).json()["documents"]] == [
        "hr/leave"
    ]


@pytest.mark.parametrize("path", ["/v1/search?q=x", "/v1/documents/doc-1"])
async def test_without_an_index_the_api_says_how_to_get_one(stack: Stack, path: str) -> None:
    async with api_client(app_for(stack, knowledge=None, vectors=None, memory=None)) as api:
        response = await (api.get(path) if "search" in path else api.delete(path))
        assert response.status_code == 503
        assert "AIOS_QDRANT_URL" in response.json()["detail"]


async def test_the_rag_search_tool_uses_the_same_search(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    await ingest(api, documents=[{"text": PUMPS, "source": "ops/pumps"}])
    handle = await start_plan(
        stack.client,
        stack.settings.task_queue,
        [
            {
                "id": "look",
                "kind": "tool",
                "tool": "rag_search",
                "args": {"query": "pump seals", "k": 2},
            }
        ],
    )
    state = await finish(handle)
    assert state.status == "completed", state.error
    output = await handle.query(AgentRunWorkflow.step_output, StepOutputQuery(step_id="look"))
    [hit] = output.output["results"]
    assert hit["source"] == "ops/pumps" and hit["chunk_id"].startswith(hit["document_id"])
    assert any("4,000 hours" in quote for quote in hit["quotes"])

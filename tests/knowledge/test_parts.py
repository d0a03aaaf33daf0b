"""The knowledge layer's parts on their own: loaders, chunking, keywords, evidence quotes and the
SSRF-safe fetcher (against a real HTTP server on loopback)."""

from __future__ import annotations

import contextlib
import http.server
import itertools
import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from activities.knowledge import DocumentChunks, KnowledgeIndex, SearchMode, open_embedder
from activities.knowledge.chunking import chunk_document
from activities.knowledge.evidence import sentences
from activities.knowledge.keywords import Bm25Encoder, tokenize
from activities.knowledge.loaders import load_text
from activities.net import FetchPolicy, FetchRefused, safe_fetch
from aios.errors import UserError
from aios.stores.vectors import EdgeVectorStore
from tests.support.fake_openai import FakeOpenAI


def minimal_pdf(text: str) -> bytes:
    """A one-page PDF with `text` in Helvetica (objects and xref written out by hand)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)


# --- loaders ----------------------------------------------------------------------------------


def test_markdown_and_text_keep_their_text_and_take_the_first_heading_as_title() -> None:
    loaded = load_text(b"# Leave policy\n\nStaff get 30 days.", name="hr/leave.md")
    assert loaded.title == "Leave policy" and "30 days" in loaded.text
    assert load_text(b"plain words", name="notes.txt").title is None


def test_html_keeps_headings_and_drops_scripts() -> None:
    html = (
        b"<html><head><title>Handbook</title><script>var secret=1</script></head><body>"
        b"<h1>Travel</h1><p>Book trains first.</p><h2>Hotels</h2><p>Stay close.</p></body></html>"
    )
    loaded = load_text(html, name="handbook.html")
    assert loaded.title == "Handbook"
    assert "# Travel" in loaded.text and "## Hotels" in loaded.text
    assert "Book trains first." in loaded.text and "secret" not in loaded.text


def test_pdf_text_is_extracted() -> None:
    loaded = load_text(minimal_pdf("Quarterly revenue grew nine percent"), name="q3.pdf")
    assert "Quarterly revenue grew nine percent" in loaded.text


def test_json_and_csv_become_field_lines() -> None:
    record = {"title": "Pump P-7", "spec": {"flow": "40 l/min"}, "tags": ["water", "pump"]}
    loaded = load_text(json.dumps(record).encode(), name="p7.json")
    assert loaded.title == "Pump P-7"
    assert "spec.flow: 40 l/min" in loaded.text and "title: Pump P-7" in loaded.text
    table = load_text(b"name,role\nAda,engineer\nGrace,admiral\n", name="people.csv")
    assert "name: Ada\nrole: engineer" in table.text and "name: Grace" in table.text


def test_bad_files_are_refused_with_the_reason() -> None:
    with pytest.raises(UserError, match=r"unsupported file type \.exe"):
        load_text(b"MZ", name="tool.exe")
    with pytest.raises(UserError, match="not valid JSON"):
        load_text(b"{oops", name="x.json")
    with pytest.raises(UserError, match="not a readable PDF"):
        load_text(b"%PDF-1.4 garbage", name="x.pdf")
    with pytest.raises(UserError, match="no text"):
        load_text(b"   \n", name="empty.md")


# --- chunking and keywords --------------------------------------------------------------------


def test_chunks_are_verbatim_slices_within_their_section_with_overlap() -> None:
    body = " ".join(f"Sentence number {i} says something about pumps." for i in range(40))
    text = f"# Pumps\n\n{body}\n\n## Valves\n\nValves close. They also open."
    chunks = chunk_document(text, max_chars=300, overlap_chars=120)
    assert all(text[c.start : c.end] == c.text for c in chunks)
    assert all(len(c.text) <= 300 for c in chunks)
    assert [c.position for c in chunks] == list(range(len(chunks)))
    assert {c.heading for c in chunks} == {"Pumps", "Valves"}
    assert chunks[-1].heading == "Valves" and chunks[-1].text.startswith("Valves close")
    pumps = [c for c in chunks if c.heading == "Pumps"]
    # Consecutive chunks share their boundary sentences.
    assert all(a.end > b.start for a, b in itertools.pairwise(pumps))


def test_bm25_vectors_are_stable_and_stemmed() -> None:
    encoder = Bm25Encoder()
    assert tokenize("The pumps are pumping") == tokenize("pump pumping")  # stopwords, stems
    a, b = encoder.document("pumps and valves"), encoder.document("pumps and valves")
    assert a == b and len(a.indices) == 2
    assert encoder.query("valve").indices[0] in a.indices


# --- evidence -----------------------------------------------------------------------------------


def test_quotable_sentences_are_exact_spans_without_list_markup() -> None:
    chunk = "## Approvals\n- A reviewer approves in the Temporal UI or through the API.\nShort.\n"
    spans = sentences(chunk)
    assert [chunk[s:e] for s, e in spans] == [
        "A reviewer approves in the Temporal UI or through the API."
    ]


# --- SSRF -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "::1",
        "10.1.2.3",
        "172.16.0.9",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "::ffff:127.0.0.1",
        "fd00::1",
        "fe80::1",
        "224.0.0.1",
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    import ipaddress

    with pytest.raises(FetchRefused, match="not a public address"):
        FetchPolicy().check("host.example", ipaddress.ip_address(address))


def test_allow_list_admits_named_hosts_and_networks() -> None:
    import ipaddress

    policy = FetchPolicy.from_allow_list(["10.0.0.0/8", "intranet.example"])
    policy.check("wiki", ipaddress.ip_address("10.4.4.4"))
    policy.check("intranet.example", ipaddress.ip_address("192.168.0.1"))
    policy.check("example.com", ipaddress.ip_address("93.184.216.34"))


@contextlib.contextmanager
def http_server(routes: dict[str, tuple[int, dict[str, str], bytes]]) -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, headers, body = routes.get(self.path, (404, {}, b"no"))
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://localhost/",
        "http://[::1]/",
        "http://2130706433/",  # 127.0.0.1 as one decimal number
        "http://0x7f.1/",  # hexadecimal, short form
        "http://017700000001/",  # octal
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
    ],
)
async def test_fetch_refuses_internal_addresses_in_every_spelling(url: str) -> None:
    with pytest.raises(FetchRefused):
        await safe_fetch(url, FetchPolicy(timeout_s=5))


async def test_fetch_refuses_a_redirect_into_the_network() -> None:
    routes = {
        "/doc": (200, {"Content-Type": "text/html"}, b"<h1>Hi</h1><p>Hello.</p>"),
        "/jump": (302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b""),
        "/big": (200, {"Content-Type": "text/plain"}, b"x" * 5000),
        "/ftp": (302, {"Location": "file:///etc/passwd"}, b""),
    }
    with http_server(routes) as base:
        allowed = FetchPolicy.from_allow_list(["127.0.0.1"], max_bytes=1000, timeout_s=5)
        fetched = await safe_fetch(f"{base}/doc", allowed)
        assert fetched.content.startswith(b"<h1>") and fetched.content_type == "text/html"
        with pytest.raises(FetchRefused, match=r"169\.254\.169\.254"):
            await safe_fetch(f"{base}/jump", allowed)
        with pytest.raises(UserError, match="larger than 1000 bytes"):
            await safe_fetch(f"{base}/big", allowed)
        with pytest.raises(UserError):
            await safe_fetch(f"{base}/ftp", allowed)
        with pytest.raises(UserError, match="HTTP 404"):
            await safe_fetch(f"{base}/missing", allowed)
        with pytest.raises(FetchRefused):  # the same server, not allow-listed
            await safe_fetch(f"{base}/doc", FetchPolicy(timeout_s=5))


async def test_an_openai_compatible_embeddings_endpoint_gets_its_own_collection(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    embedder = open_embedder(
        "openai:text-embedding-3-small", openai_api_key="k", openai_base_url=fake_openai.base_url
    )
    vectors = EdgeVectorStore(tmp_path / "edge")
    index = KnowledgeIndex(vectors, embedder)
    assert index.collection == "aios_chunks__openai-text-embedding-3-small"
    embedded: list[list[str]] = []
    embed = embedder.embed

    async def counted(texts: Sequence[str]) -> list[list[float]]:
        embedded.append(list(texts))
        return await embed(texts)

    embedder.embed = counted  # type: ignore[method-assign]
    # A tenant without documents: nothing found, and no question embedded to find it.
    assert await index.search("t", "pump seals", 2) == []
    assert ["pump seals"] not in embedded
    text = "# Pumps\n\nThe pump needs new seals every year."
    await index.index([DocumentChunks("t", "d1", "pumps.md", "Pumps", chunk_document(text))])
    other = "# Leave\n\nStaff get thirty days of leave."
    await index.index([DocumentChunks("t", "d2", "leave.md", "Leave", chunk_document(other))])
    assert await embedder.dimension() == 64
    hits = await index.search("t", "pump seals", 2, SearchMode.DENSE)
    assert hits[0].document_id == "d1"
    await vectors.close()


@pytest.mark.parametrize("engine", ["edge", "client"])
async def test_both_vector_engines_index_search_and_delete_alike(
    tmp_path: Path, engine: str
) -> None:
    """Qdrant Edge (embedded) and qdrant-client (a server, here its local mode) behind one
    interface: the same points, the same answers."""
    from qdrant_client import AsyncQdrantClient

    from aios.stores.vectors import CollectionSpec, QdrantVectorStore, VectorPoint

    store = (
        EdgeVectorStore(tmp_path / "edge")
        if engine == "edge"
        else QdrantVectorStore(AsyncQdrantClient(path=str(tmp_path / "local")))
    )
    await store.ensure(CollectionSpec(name="c", dense_size=3, sparse=True))
    ids = [f"00000000-0000-0000-0000-00000000000{c}" for c in "abc"]
    await store.upsert(
        "c",
        [
            VectorPoint(ids[0], {"tenant": "t", "n": 1}, [1.0, 0.0, 0.0], ([1, 2], [1.0, 1.0])),
            VectorPoint(ids[1], {"tenant": "t", "n": 2}, [0.0, 1.0, 0.0], ([3], [1.0])),
            VectorPoint(ids[2], {"tenant": "u", "n": 3}, [1.0, 0.0, 0.0], ([1], [1.0])),
        ],
    )
    dense = await store.search("c", equals={"tenant": "t"}, limit=2, dense=[1.0, 0.1, 0.0])
    assert [h.payload["n"] for h in dense] == [1, 2]
    keyword = await store.search("c", equals={"tenant": "t"}, limit=2, sparse=([3], [1.0]))
    assert [h.payload["n"] for h in keyword] == [2]
    hybrid = await store.search(
        "c", equals={"tenant": "t"}, limit=2, dense=[0.0, 1.0, 0.0], sparse=([1], [1.0])
    )
    assert {h.payload["n"] for h in hybrid} == {1, 2}
    assert await store.search("c", equals={"tenant": "t"}, limit=2, sparse=([], [])) == []
    assert await store.count_where("c", {"tenant": "t"}) == 2
    assert sorted(h.payload["n"] for h in await store.scroll_where("c", {"tenant": "t"}, 10)) == [
        1,
        2,
    ]
    await store.delete_ids("c", [ids[1]])
    assert await store.delete_where("c", {"tenant": "t"}) == 1
    assert await store.count_where("c", {"tenant": "u"}) == 1
    await store.close()

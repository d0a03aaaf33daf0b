"""`aios ingest`, `aios search`, `aios documents`: the knowledge base from the command line.

Files are read here, on the client side, and uploaded: the API never reads a path on its own disk.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from aios.client import ApiClient, collect_files, upload_batches


class ProgressBar:
    """One line redrawn in place on a terminal; a line per change elsewhere (CI logs)."""

    def __init__(self, label: str, *, stream: Any = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._last = ""

    def update(self, done: int, failed: int, total: int) -> None:
        width = 30
        finished = done + failed
        filled = width * finished // total if total else width
        line = f"{self.label} [{'#' * filled}{'.' * (width - filled)}] {finished}/{total}" + (
            f" ({failed} failed)" if failed else ""
        )
        if line == self._last:
            return
        self._last = line
        if self.tty:
            self.stream.write("\r" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self._last:
            self.stream.write("\n")
            self.stream.flush()


def _read_files(batch: list[tuple[str, Path]]) -> list[tuple[str, bytes]]:
    return [(name, path.read_bytes()) for name, path in batch]


async def ingest(
    api: ApiClient, targets: list[str], *, wait: bool = True, show_progress: bool = True
) -> dict[str, Any]:
    """Upload files (directories expanded) and ingest URLs; wait for the jobs with a progress
    bar. Returns {jobs, documents, skipped} with each finished job's figures."""
    urls = [t for t in targets if t.startswith(("http://", "https://"))]
    files, skipped = collect_files([t for t in targets if t not in urls])
    if not files and not urls:
        return {"jobs": [], "documents": [], "skipped": skipped}
    accepted: list[dict[str, Any]] = []
    for batch in upload_batches(files):
        loaded = await asyncio.to_thread(_read_files, batch)
        accepted.append(await api.upload(loaded))
    for start in range(0, len(urls), 1000):
        accepted.append(await api.ingest({"urls": urls[start : start + 1000]}))
    job_ids = [job["job_id"] for job in accepted]
    documents = [doc for job in accepted for doc in job["documents"]]
    if not wait:
        return {"jobs": accepted, "documents": documents, "skipped": skipped}
    bar = ProgressBar("ingesting") if show_progress else None

    def progress(jobs: list[dict[str, Any]]) -> None:
        if bar is not None:
            bar.update(
                sum(j["done"] for j in jobs),
                sum(j["failed"] for j in jobs),
                sum(j["total"] for j in jobs),
            )

    try:
        finished = await api.wait_for_jobs(job_ids, on_progress=progress)
    finally:
        if bar is not None:
            bar.close()
    return {"jobs": finished, "documents": documents, "skipped": skipped}


def summarise(result: dict[str, Any]) -> list[str]:
    jobs = result["jobs"]
    lines = [
        f"ingested {sum(j.get('done', 0) for j in jobs)} documents "
        f"({sum(j.get('chunks', 0) for j in jobs)} chunks; "
        f"{sum(j.get('unchanged', 0) for j in jobs)} unchanged, "
        f"{sum(j.get('failed', 0) for j in jobs)} failed)"
    ]
    for job in jobs:
        lines += [f"  not ingested: {error}" for error in job.get("errors", [])]
    lines += [f"  skipped: {reason}" for reason in result["skipped"]]
    return lines


async def cmd_ingest(api: ApiClient, args: argparse.Namespace) -> int:
    result = await ingest(api, args.targets, wait=not args.no_wait, show_progress=not args.json)
    if args.json:
        print(json.dumps(result, indent=2))
    elif not result["jobs"]:
        for reason in result["skipped"]:
            print(f"  skipped: {reason}")
        print("aios: nothing to ingest", file=sys.stderr)
        return 1
    elif args.no_wait:
        for job in result["jobs"]:
            print(f"job {job['job_id']}: {len(job['documents'])} documents queued")
        print("follow with: aios documents --job JOB_ID")
    else:
        print("\n".join(summarise(result)))
    failed = any(j.get("status") == "failed" for j in result["jobs"])
    return 1 if failed or (result["skipped"] and not result["jobs"]) else 0


async def cmd_search(api: ApiClient, args: argparse.Namespace) -> int:
    answer = await api.search(args.query, k=args.k, mode=args.mode, quotes=args.quotes)
    if args.json:
        print(json.dumps(answer, indent=2))
        return 0
    if not answer["results"]:
        print("no results (is anything ingested? `aios ingest PATH`)")
        return 0
    for n, hit in enumerate(answer["results"], 1):
        print(f"[{n}] {hit['title'] or hit['source']}  ({hit['source']}, score {hit['score']:.4f})")
        print(f"    {hit['snippet']}")
        for quote in hit.get("quotes") or []:
            # Verbatim but for line wrapping (the offsets in --json point at the exact text).
            print(f'    > "{" ".join(quote["text"].split())}"')
    return 0


async def cmd_documents(api: ApiClient, args: argparse.Namespace) -> int:
    if args.job:
        job = await api.ingest_job(args.job)
        print(json.dumps(job, indent=2, default=str))
        return 0
    if args.delete:
        for document_id in args.delete:
            gone = await api.delete_document(document_id)
            print(f"deleted {gone['document_id']} ({gone['deleted_chunks']} chunks)")
        return 0
    page = await api.documents(page_size=args.limit)
    if args.json:
        print(json.dumps(page, indent=2, default=str))
        return 0
    for doc in page["documents"]:
        print(f"{doc['id']}  {doc['chunks']:>4} chunks  {doc['source']}  — {doc['title']}")
    if page.get("next_page_token"):
        print("(more: raise --limit, at most 500)")
    return 0


def add_verbs(verb: Any) -> None:
    """Register the knowledge verbs with the parser's `verb` helper."""
    ingest_p = verb("ingest", cmd_ingest, "upload files, folders or URLs into the knowledge base")
    ingest_p.add_argument(
        "targets", nargs="+", metavar="PATH|URL", help="files, folders (recursively) or URLs"
    )
    ingest_p.add_argument("--no-wait", action="store_true", help="return once the jobs start")
    search_p = verb("search", cmd_search, "search the knowledge base")
    search_p.add_argument("query", help="what to look for, in plain words")
    search_p.add_argument("-k", type=int, default=5, help="how many chunks (default 5)")
    search_p.add_argument(
        "--mode",
        choices=["hybrid", "dense", "keyword"],
        default="hybrid",
        help="hybrid (default): meaning and words fused; dense: meaning; keyword: BM25",
    )
    search_p.add_argument("--quotes", type=int, default=2, help="supporting sentences per source")
    docs_p = verb("documents", cmd_documents, "list documents, show a job, delete documents")
    docs_p.add_argument("--limit", type=int, default=100, help="documents to list (default 100)")
    docs_p.add_argument("--job", metavar="JOB_ID", help="show an ingestion job")
    docs_p.add_argument("--delete", nargs="+", metavar="DOCUMENT_ID", help="delete these documents")

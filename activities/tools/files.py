"""`file_read`, `file_write`, `file_list`: files of a run, kept in PostgreSQL.

A run's files live in the store (`aios/stores/run_files.py`), not on one worker's disk: whichever
worker runs the next step reads them, and whoever may read the run downloads them
(`GET /v1/runs/{id}/files/{path}`). Paths are relative, `/`-separated names inside the run's own
space; `..` and absolute paths are refused, so no path names another run's file or the
worker's file system.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from activities.tools.registry import ToolContext, tool
from aios.errors import NotFound, UserError
from aios.stores.run_files import RunFileStore, normalize

MAX_FILE_BYTES = 5 * 1024 * 1024


class FileReadArgs(BaseModel):
    path: str = Field(min_length=1, max_length=500)


class FileText(BaseModel):
    path: str
    text: str


@tool(side_effects="none", timeout_s=30)
async def file_read(args: FileReadArgs, ctx: ToolContext) -> FileText:
    """Read a text file the run wrote."""
    data = await RunFileStore(ctx.pool).get(ctx.tenant, ctx.run_id, normalize(args.path))
    if data is None:
        raise NotFound(f"no file {args.path!r} in this run's files")
    return FileText(path=args.path, text=data.decode("utf-8", errors="replace"))


class FileWriteArgs(BaseModel):
    path: str = Field(min_length=1, max_length=500)
    text: str = Field(max_length=MAX_FILE_BYTES)


class FileWritten(BaseModel):
    path: str
    bytes: int


@tool(side_effects="writes", timeout_s=30, trusted_output=True)
async def file_write(args: FileWriteArgs, ctx: ToolContext) -> FileWritten:
    """Write a text file in the run's files (replacing it); writing it again is harmless."""
    data = args.text.encode()
    if len(data) > MAX_FILE_BYTES:
        raise UserError(f"{args.path!r}: larger than {MAX_FILE_BYTES} bytes")
    await RunFileStore(ctx.pool).put(ctx.tenant, ctx.run_id, normalize(args.path), data)
    return FileWritten(path=args.path, bytes=len(data))


class FileListArgs(BaseModel):
    path: str = Field(default=".", max_length=500)


class FileEntry(BaseModel):
    path: str
    bytes: int
    directory: bool


class FileListing(BaseModel):
    files: list[FileEntry]


@tool(side_effects="none", timeout_s=30)
async def file_list(args: FileListArgs, ctx: ToolContext) -> FileListing:
    """List the run's files (or those in a folder of them), folders included."""
    prefix = "" if args.path.strip() in (".", "", "./") else normalize(args.path) + "/"
    files = await RunFileStore(ctx.pool).list(ctx.tenant, ctx.run_id, prefix)
    if prefix and not files:
        raise NotFound(f"no folder {args.path!r} in this run's files")
    folders = {
        "/".join(f.path.split("/")[:i])
        for f in files
        for i in range(prefix.count("/") + 1, f.path.count("/") + 1)
    }
    entries = [FileEntry(path=p, bytes=0, directory=True) for p in folders]
    entries += [FileEntry(path=f.path, bytes=f.size_bytes, directory=False) for f in files]
    return FileListing(files=sorted(entries, key=lambda e: e.path)[:1000])

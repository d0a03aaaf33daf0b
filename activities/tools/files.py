"""`file_read`, `file_write`, `file_list`: files in a per-run workspace.

A run's workspace is `<data dir>/workspaces/<tenant>/<run id>`. Paths are relative to it; a path
that would leave it (`..`, an absolute path) or pass through a symbolic link is refused, and files
are opened with O_NOFOLLOW, so a link planted inside cannot lead out either.
"""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path, PurePosixPath

from pydantic import BaseModel, Field

from activities.tools.registry import ToolContext, tool
from aios.errors import NotFound, UserError

MAX_FILE_BYTES = 5 * 1024 * 1024


def workspace(ctx: ToolContext) -> Path:
    root = ctx.settings.resolved_data_dir / "workspaces" / _safe(ctx.tenant) / _safe(ctx.run_id)
    root.mkdir(parents=True, exist_ok=True)
    return root


def _safe(part: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in part) or "_"


def resolve(root: Path, relative: str) -> Path:
    """The path inside `root`; refuses escapes and symbolic links on the way."""
    pure = PurePosixPath(relative)
    if pure.is_absolute() or not relative.strip():
        raise UserError(f"{relative!r}: give a path relative to the run's workspace")
    if any(part == ".." for part in pure.parts):
        raise UserError(f"{relative!r}: `..` is not allowed; paths stay inside the workspace")
    current = root
    for part in pure.parts:
        current = current / part
        try:
            if stat.S_ISLNK(os.lstat(current).st_mode):
                raise UserError(f"{relative!r}: symbolic links are not followed")
        except FileNotFoundError:
            break
    return root / Path(*pure.parts)


class FileReadArgs(BaseModel):
    path: str = Field(min_length=1, max_length=500)


class FileText(BaseModel):
    path: str
    text: str


@tool(side_effects="none", timeout_s=30)
async def file_read(args: FileReadArgs, ctx: ToolContext) -> FileText:
    """Read a text file from the run's workspace."""
    path = resolve(workspace(ctx), args.path)

    def read() -> bytes:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            raise NotFound(f"no file {args.path!r} in the workspace") from None
        except OSError as e:
            raise UserError(f"{args.path!r}: {e.strerror}") from None
        with os.fdopen(fd, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise UserError(f"{args.path!r} is larger than {MAX_FILE_BYTES} bytes")
        return data

    data = await asyncio.to_thread(read)
    return FileText(path=args.path, text=data.decode("utf-8", errors="replace"))


class FileWriteArgs(BaseModel):
    path: str = Field(min_length=1, max_length=500)
    text: str = Field(max_length=MAX_FILE_BYTES)


class FileWritten(BaseModel):
    path: str
    bytes: int


@tool(side_effects="writes", timeout_s=30, trusted_output=True)
async def file_write(args: FileWriteArgs, ctx: ToolContext) -> FileWritten:
    """Write a text file in the run's workspace (replacing it); writing it again is harmless."""
    root = workspace(ctx)
    path = resolve(root, args.path)
    data = args.text.encode()

    def write() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        resolve(root, args.path)  # again: a link may have appeared while creating parents
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o640)
        with os.fdopen(fd, "wb") as f:
            f.write(data)

    try:
        await asyncio.to_thread(write)
    except OSError as e:
        raise UserError(f"{args.path!r}: {e.strerror}") from None
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
    """List the files in the run's workspace (or a folder of it)."""
    root = workspace(ctx)
    base = root if args.path in (".", "") else resolve(root, args.path)
    if not base.is_dir():
        raise NotFound(f"no folder {args.path!r} in the workspace")
    entries = []
    for child in sorted(base.rglob("*")):
        if child.is_symlink():
            continue
        entries.append(
            FileEntry(
                path=child.relative_to(root).as_posix(),
                bytes=child.stat().st_size if child.is_file() else 0,
                directory=child.is_dir(),
            )
        )
    return FileListing(files=entries[:1000])

"""`code_exec` (Python) and `shell_exec` (a shell command line, operators only): code run in a
bubblewrap sandbox (activities/sandbox.py), its files kept as the run's files.

The workspace starts with the run's files (`GET /v1/runs/{id}/files`; those named in `inputs`, or
all of them) plus any text files given in `files`; the files the code writes or changes there
become run files at the same paths, downloadable by whoever may read the run. No network, a
read-only system, and limits on CPU time, wall time, memory, processes, output and file size
(settings `AIOS_CODE_EXEC_*`); a limit hit is reported in the output (`limits_hit`), not raised.
A worker where the sandbox cannot run refuses (non-retryable, with the reason): code never runs
outside it.

Side effects: none outside AIOS. The code reaches nothing but its workspace; what it writes lands
in the run's own files, and a retried call writes the same paths again. So no approval is asked,
and an agent may iterate with it. Its output is untrusted (it is derived from data and code a
model wrote): scanned, and what derives from it needs approval before a side effect.
"""

from __future__ import annotations

import functools
import sys
from urllib.parse import quote

from pydantic import BaseModel, Field

from activities.sandbox import Limits, Sandbox, SandboxConfig, SandboxResult, check_relative
from activities.tools.registry import ToolContext, tool
from aios.config import Settings
from aios.errors import UserError
from aios.stores.run_files import RunFileStore, normalize

MAX_CODE_CHARS = 100_000
MAX_INPUT_FILES = 50
MAX_GIVEN_FILE_CHARS = 5_000_000
# Room above the sandbox's own wall time for copying files in and out.
TOOL_TIMEOUT_S = 600.0


class _ExecArgs(BaseModel):
    inputs: list[str] | None = Field(
        default=None,
        max_length=MAX_INPUT_FILES,
        description="run files to copy into the workspace (default: all of the run's files)",
    )
    files: dict[str, str] = Field(
        default_factory=dict,
        max_length=20,
        description="more text files to put in the workspace first: {relative path: text}",
    )
    timeout_s: float | None = Field(
        default=None, gt=0, le=3600, description="wall time, at most the configured limit"
    )


class CodeExecArgs(_ExecArgs):
    code: str = Field(
        min_length=1,
        max_length=MAX_CODE_CHARS,
        description=(
            "Python 3 source, run in the workspace (the current directory) with numpy, pandas "
            "and matplotlib (Agg backend) available; no network. Print what you need to read "
            "back; save figures as PNG files in the current directory."
        ),
    )


class ShellExecArgs(_ExecArgs):
    command: str = Field(
        min_length=1, max_length=20_000, description="a command line for /bin/sh -c"
    )


class WrittenFile(BaseModel):
    path: str
    bytes: int
    download: str


class CodeExecOutput(BaseModel):
    exit_code: int | None = Field(description="the program's exit status; None if killed")
    stdout: str
    stderr: str
    stdout_truncated: bool
    stderr_truncated: bool
    killed: bool = Field(description="ended by a signal or the wall time, not by itself")
    signal: str | None = None
    limits_hit: list[str] = Field(
        description="wall_time, cpu_time, memory, processes, file_size, output"
    )
    files: list[WrittenFile] = Field(description="files written, kept as the run's files")
    skipped: list[dict[str, str]] = Field(description="files written but not kept, and why")
    cpu_s: float
    wall_s: float


def _limits(settings: Settings) -> Limits:
    files_bytes = settings.code_exec_files_mb << 20
    return Limits(
        cpu_s=settings.code_exec_cpu_s,
        wall_s=settings.code_exec_wall_s,
        memory_bytes=settings.code_exec_memory_mb << 20,
        max_processes=settings.code_exec_max_processes,
        output_bytes=settings.code_exec_output_bytes,
        file_bytes=files_bytes,
        workspace_bytes=settings.code_exec_workspace_mb << 20,
        files_bytes=files_bytes,
        sandbox_memory_bytes=settings.code_exec_sandbox_memory_mb << 20,
    )


@functools.lru_cache(maxsize=8)
def _sandbox(config: SandboxConfig, concurrency: int) -> Sandbox:
    return Sandbox(config, concurrency=concurrency)


def sandbox_for(settings: Settings) -> Sandbox:
    """The worker's sandbox for these settings (one per configuration, shared by calls)."""
    config = SandboxConfig(
        limits=_limits(settings),
        bwrap=settings.code_exec_bwrap,
        pids_cgroup=settings.code_exec_pids_cgroup,
        memory_cgroup=settings.code_exec_memory_cgroup,
    )
    return _sandbox(config, settings.code_exec_concurrency)


async def _workspace(args: _ExecArgs, ctx: ToolContext, limits: Limits) -> dict[str, bytes]:
    store = RunFileStore(ctx.pool)
    files: dict[str, bytes] = {}
    if args.inputs is None:
        names = [f.path for f in await store.list(ctx.tenant, ctx.run_id)][:MAX_INPUT_FILES]
    else:
        names = [normalize(name) for name in args.inputs]
    total = 0
    for name in names:
        data = await store.get(ctx.tenant, ctx.run_id, name)
        if data is None:
            if args.inputs is not None:
                raise UserError(f"no file {name!r} in this run's files (inputs)")
            continue
        total += len(data)
        if total > limits.workspace_bytes // 2:
            raise UserError(
                f"the input files are over {limits.workspace_bytes // 2} bytes: name fewer in "
                "`inputs`"
            )
        files[name] = data
    for name, text in args.files.items():
        if len(text) > MAX_GIVEN_FILE_CHARS:
            raise UserError(f"{name!r}: over {MAX_GIVEN_FILE_CHARS} characters")
        files[normalize(name)] = text.encode()
    return files


async def _execute(argv: list[str], args: _ExecArgs, ctx: ToolContext) -> CodeExecOutput:
    sandbox = sandbox_for(ctx.settings)
    limits = sandbox.config.limits
    if args.timeout_s is not None and args.timeout_s < limits.wall_s:
        limits = Limits(**{**limits.__dict__, "wall_s": args.timeout_s})
    result: SandboxResult = await sandbox.run(argv, await _workspace(args, ctx, limits), limits)
    store = RunFileStore(ctx.pool)
    written: list[WrittenFile] = []
    for path, data in sorted(result.files.items()):
        path = check_relative(path)
        await store.put(ctx.tenant, ctx.run_id, path, data)
        written.append(
            WrittenFile(
                path=path,
                bytes=len(data),
                download=f"/v1/runs/{ctx.run_id}/files/{quote(path)}",
            )
        )
    return CodeExecOutput(
        exit_code=result.exit_code,
        stdout=result.stdout,
        stderr=result.stderr,
        stdout_truncated=result.stdout_bytes > len(result.stdout.encode()),
        stderr_truncated=result.stderr_bytes > len(result.stderr.encode()),
        killed=result.killed,
        signal=result.signal,
        limits_hit=result.limits_hit,
        files=written,
        skipped=result.skipped,
        cpu_s=result.cpu_s,
        wall_s=result.wall_s,
    )


@tool(side_effects="none", timeout_s=TOOL_TIMEOUT_S)
async def code_exec(args: CodeExecArgs, ctx: ToolContext) -> CodeExecOutput:
    """Run Python code in a sandbox (no network; numpy, pandas, matplotlib; the run's files in
    the working directory) and return its stdout, stderr, exit code and the files it wrote, which
    become the run's files (figures as PNG).

    Limits on CPU, wall time, memory, processes and output are reported in `limits_hit`.
    """
    return await _execute([sys.executable, "-c", args.code], args, ctx)


@tool(side_effects="none", timeout_s=TOOL_TIMEOUT_S, roles=("operator",))
async def shell_exec(args: ShellExecArgs, ctx: ToolContext) -> CodeExecOutput:
    """Run a shell command line in the same sandbox as `code_exec` (operators and admins only)
    and return its stdout, stderr, exit code and the files it wrote (kept as the run's files)."""
    return await _execute(["/bin/sh", "-c", args.command], args, ctx)


class ReportFiguresArgs(BaseModel):
    text: str = Field(max_length=200_000, description="the report, in Markdown")
    title: str | None = Field(default=None, max_length=300, description="a heading to put first")


class ReportWithFigures(BaseModel):
    text: str
    figures: list[WrittenFile]


FIGURE_SUFFIXES = (".png", ".svg", ".jpg", ".jpeg")


@tool(side_effects="none", timeout_s=30)
async def report_figures(args: ReportFiguresArgs, ctx: ToolContext) -> ReportWithFigures:
    """Link the run's figures (PNG, SVG, JPEG files) from a Markdown report: a figure the text
    names by its file name gets its download link, and the others are added at the end."""
    store = RunFileStore(ctx.pool)
    figures = [
        WrittenFile(
            path=f.path,
            bytes=f.size_bytes,
            download=f"/v1/runs/{ctx.run_id}/files/{quote(f.path)}",
        )
        for f in await store.list(ctx.tenant, ctx.run_id)
        if f.path.lower().endswith(FIGURE_SUFFIXES)
    ]
    text = args.text.strip()
    missing: list[WrittenFile] = []
    for figure in figures:
        if figure.download in text:
            continue
        linked = f"]({figure.path})"
        if linked in text:
            text = text.replace(linked, f"]({figure.download})")
        else:
            missing.append(figure)
    if missing:
        text += "\n\n## Figures\n\n" + "\n\n".join(f"![{f.path}]({f.download})" for f in missing)
    if args.title:
        text = f"# {args.title.strip()}\n\n{text}"
    return ReportWithFigures(text=text, figures=figures)

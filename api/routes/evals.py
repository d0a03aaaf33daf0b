"""Evals (`api/evals.py`): a dataset run as ordinary runs of the caller, one per row and
variant, scored; A/B between two variants. Any user may start one (its rows run under their
budget caps); an eval is read, exported and resumed by whoever may read or act on its owner's
runs (api/authz.py); another user's eval is 404 to a `user`, as another tenant's."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from aios.evals import CreateEval, EvalCreated, EvalList, EvalOut, EvalSummary
from aios.stores.evals import EvalStore
from api import page_tokens
from api.authz import require_user, sees_all_users
from api.deps import PrincipalDep
from api.evals import EvalService
from api.run_service import RunsDep

router = APIRouter(prefix="/v1/evals", tags=["evals"])
MEDIA = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}


def _evals(runs: RunsDep) -> EvalService:
    return EvalService(runs)


EvalsDep = Annotated[EvalService, Depends(_evals)]


@router.post("", status_code=202, response_model=EvalCreated)
async def create_eval(body: CreateEval, principal: PrincipalDep, evals: EvalsDep) -> EvalCreated:
    """Run a dataset (JSON Lines in `jsonl`, or `rows`) as one run per row and variant, and
    score the answers. One variant (`skill`, `version`, `versions`, `model`) or two to compare
    (`compare: [A, B]`). An unknown scorer, version, model or skill is 422 before anything runs;
    a bad row (not JSON, no question, an unknown skill or version of its own) is kept as an
    errored row with the reason, and the others run."""
    return await evals.create(principal, body)


@router.get("", response_model=EvalList)
async def list_evals(
    principal: PrincipalDep,
    runs: RunsDep,
    user_id: Annotated[str | None, Query(max_length=200)] = None,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
    page_token: Annotated[str | None, Query(max_length=200)] = None,
) -> EvalList:
    """The tenant's evals, newest first: the caller's own, or (operators and admins) every
    user's, or one user's with `user_id`."""
    if user_id is not None:
        require_user(principal, user_id, "evals")
    elif not sees_all_users(principal):
        user_id = principal.user_id
    listing = f"evals of {principal.tenant} for {user_id}"
    before = None
    if page_token:
        before = datetime.fromisoformat(page_tokens.unseal(page_token, listing).decode())
    found = await EvalStore(runs.pool).listing(
        principal.tenant, user_id, limit=page_size + 1, before=before
    )
    token = None
    if len(found) > page_size:
        found = found[:page_size]
        token = page_tokens.seal(found[-1].created_at.isoformat().encode(), listing)
    return EvalList(evals=found, next_page_token=token)


@router.get("/{eval_id}", response_model=EvalOut)
async def get_eval(eval_id: str, principal: PrincipalDep, evals: EvalsDep) -> EvalOut:
    """The eval: progress, per-variant means with 95% confidence intervals per scorer, for an
    A/B the paired comparison (t test and Wilcoxon, scipy) and the rows where the two differ,
    and every row's result."""
    return await evals.get(principal, eval_id)


@router.get(
    "/{eval_id}/export",
    response_class=Response,
    responses={
        200: {
            "content": {
                "application/x-ndjson": {"example": '{"variant": "default", "row": 1}\n'},
                "text/csv": {"example": "variant,row,status,question\n"},
            },
            "description": "one line per row and variant",
        }
    },
)
async def export_eval(
    eval_id: str,
    principal: PrincipalDep,
    evals: EvalsDep,
    format: Annotated[Literal["jsonl", "csv"], Query()] = "jsonl",
) -> Response:
    """Every row's result as JSON Lines or CSV (one column per scorer), to download."""
    body = await evals.export(principal, eval_id, format)
    return Response(
        body,
        media_type=MEDIA[format],
        headers={"Content-Disposition": f'attachment; filename="{eval_id}.{format}"'},
    )


@router.post("/{eval_id}/resume", status_code=202, response_model=EvalSummary)
async def resume_eval(eval_id: str, principal: PrincipalDep, evals: EvalsDep) -> EvalSummary:
    """Start a stopped eval again (terminated, failed): the rows it scored are kept and not run
    again; 409 while it runs."""
    return await evals.resume(principal, eval_id)

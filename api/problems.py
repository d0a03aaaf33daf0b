"""RFC 9457 problem+json for every error the API returns: the one place errors become HTTP."""

from __future__ import annotations

import logging
import math
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from aios import telemetry
from aios.errors import AiosError

log = logging.getLogger(__name__)
PROBLEM_BASE = "https://aios.dev/problems/"


# Seconds a client should wait before retrying a 503 that names no better figure.
DEFAULT_RETRY_AFTER_S = 5


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    code: str,
    retry_after: float | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem+json response. Every 503 and 429 says when to retry (`Retry-After`, also in the
    body as `retry_after_s`)."""
    body = {"type": PROBLEM_BASE + code, "title": title, "status": status, "detail": detail}
    body.update({k: v for k, v in extra.items() if v is not None})
    all_headers = dict(headers or {})
    if status == 401:
        all_headers["WWW-Authenticate"] = "Bearer"
    if status in (429, 503):
        seconds = max(1, math.ceil(retry_after or DEFAULT_RETRY_AFTER_S))
        all_headers["Retry-After"] = str(seconds)
        body["retry_after_s"] = seconds
    return JSONResponse(
        body, status_code=status, media_type="application/problem+json", headers=all_headers
    )


_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    502: "Bad gateway",
    503: "Service unavailable",
}


def too_large(limit: int, advice: str | None = None) -> JSONResponse:
    return problem(
        413,
        _TITLES[413],
        f"the request body is larger than the limit of {limit} bytes; "
        + (
            advice
            or "put large material in documents (POST /v1/documents) or raise "
            "AIOS_MAX_REQUEST_BYTES"
        ),
        code="payload_too_large",
        limit_bytes=limit,
    )


def unsupported_media(media: str) -> JSONResponse:
    return problem(
        415,
        _TITLES[415],
        f"this endpoint takes application/json, not {media}",
        code="unsupported_media_type",
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(AiosError)
    async def _aios(_: Request, exc: AiosError) -> JSONResponse:
        if exc.http_status >= 500:
            log.warning("%s: %s", type(exc).__name__, exc.message)
        if exc.http_status == 429:
            telemetry.RATE_LIMITED.labels(exc.details.get("limit", "other")).inc()
        return problem(
            exc.http_status,
            _TITLES.get(exc.http_status, "Error"),
            exc.message,
            code=exc.code,
            retry_after=getattr(exc, "retry_after", None),
            **exc.details,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ())]
            errors.append({"location": ".".join(loc), "message": err.get("msg", "invalid")})
        malformed = any(e.get("type") == "json_invalid" for e in exc.errors())
        detail = (
            "the request body is not valid JSON"
            if malformed
            else "; ".join(f"{e['location']}: {e['message']}" for e in errors)
        )
        return problem(
            400 if malformed else 422,
            "Malformed JSON" if malformed else "Invalid request",
            detail,
            code="malformed_json" if malformed else "validation_failed",
            errors=errors,
        )

    @app.exception_handler(asyncpg.CharacterNotInRepertoireError)
    @app.exception_handler(asyncpg.UntranslatableCharacterError)
    async def _unstorable_text(_: Request, exc: asyncpg.DataError) -> JSONResponse:
        # PostgreSQL text cannot hold NUL (U+0000); the statement failed whole, nothing was kept.
        return problem(
            422,
            _TITLES[422],
            "the request contains text PostgreSQL cannot store (a NUL character, \\u0000); "
            "remove it and send again",
            code="validation_failed",
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 413:
            return too_large(request.app.state.settings.max_request_bytes)
        return problem(
            exc.status_code,
            _TITLES.get(exc.status_code, "Error"),
            detail,
            code="http",
            headers=dict(exc.headers or {}),  # e.g. `Allow` on a 405
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return problem(
            500, "Internal error", "an unexpected error occurred; see the API log", code="internal"
        )


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An RFC 9457 problem",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "what went wrong and what to do"},
        "retry_after_s": {"type": "integer", "description": "429 and 503: when to try again"},
        "errors": {
            "type": "array",
            "description": "422: each invalid field",
            "items": {
                "type": "object",
                "properties": {"location": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
    "example": {
        "type": PROBLEM_BASE + "not_found",
        "title": "Not found",
        "status": 404,
        "detail": "no run 'run-01j…'",
    },
}
_WHEN = {
    400: "the body is not valid JSON",
    401: "no key, or an unknown, revoked or expired key or token",
    403: "the key lacks the role this needs",
    404: "no such resource for this tenant (another tenant's ids are 404 too)",
    409: "the resource's state does not allow this (e.g. the run has ended)",
    413: "the body is over the size limit",
    415: "the body is not application/json",
    422: "a field is invalid; `errors` names each",
    429: "over the key's rate or concurrent-run limit; see Retry-After",
    503: "Temporal, PostgreSQL or Qdrant is unreachable; see Retry-After",
}
_OPEN = {"/healthz", "/readyz"}


def document_problems(app: FastAPI) -> None:
    """Every operation's error answers in the OpenAPI document, as application/problem+json with
    the status codes it can give: 401/403/429 where a principal is needed, 404 where the path
    names a resource, 400/413/415/422 where there is a body or parameters, 409 where it changes
    something, 503 everywhere (the API depends on Temporal and PostgreSQL)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = FastAPI.openapi(app)
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        schema["components"]["schemas"].pop("HTTPValidationError", None)
        schema["components"]["schemas"].pop("ValidationError", None)
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                statuses = {503}
                if path not in _OPEN:
                    statuses |= {401, 403, 429}
                if "{" in path:
                    statuses.add(404)
                if operation.get("parameters") or "requestBody" in operation:
                    statuses.add(422)
                if "requestBody" in operation:
                    statuses |= {400, 413, 415}
                if method in ("post", "put", "patch", "delete"):
                    statuses.add(409)
                responses = operation.setdefault("responses", {})
                for status in sorted(statuses):
                    responses[str(status)] = {
                        "description": f"{_TITLES.get(status, 'Error')}: {_WHEN[status]}",
                        "content": {
                            "application/problem+json": {
                                "schema": {"$ref": "#/components/schemas/Problem"}
                            }
                        },
                    }
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]

"""RFC 9457 problem+json for every error the API returns: the one place errors become HTTP."""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

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


def too_large(limit: int) -> JSONResponse:
    return problem(
        413,
        _TITLES[413],
        f"the request body is larger than the limit of {limit} bytes; put large material in "
        "documents (POST /v1/documents) or raise AIOS_MAX_REQUEST_BYTES",
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

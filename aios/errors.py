"""The AIOS error hierarchy: each class says who must act.

- `UserError`: the caller sent something wrong; retrying the same input cannot help (HTTP 4xx,
  non-retryable in Temporal).
- `ConfigurationError`: the operator must fix the deployment (HTTP 503, non-retryable).
- `TransientError`: nobody needs to act; retry (HTTP 503, retryable in Temporal).

`to_application_error` is the one place where these become Temporal failures; `api/problems.py` is
the one place where they become problem+json responses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from temporalio.exceptions import ApplicationError


class AiosError(Exception):
    """Base of every error AIOS raises on purpose."""

    http_status = 500
    retryable = False
    code = "internal"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class UserError(AiosError):
    """The caller must change the request."""

    http_status = 400
    code = "bad_request"


class ValidationFailed(UserError):
    http_status = 422
    code = "validation_failed"


class UnsupportedMediaType(UserError):
    http_status = 415
    code = "unsupported_media_type"


class PayloadTooLarge(UserError):
    """Over a size or length limit; `details` names the limit (`limit_bytes`, `limit_s`)."""

    http_status = 413
    code = "payload_too_large"


class NotFound(UserError):
    http_status = 404
    code = "not_found"


class NotAcceptable(UserError):
    """The resource exists, but not in the format asked for."""

    http_status = 406
    code = "not_acceptable"


class Conflict(UserError):
    http_status = 409
    code = "conflict"


class Unauthorized(UserError):
    """No credentials, or credentials this server does not accept."""

    http_status = 401
    code = "unauthorized"


class PolicyDenied(UserError):
    http_status = 403
    code = "policy_denied"


class ConfigurationError(AiosError):
    """The operator must fix the deployment (missing setting, unreachable dependency by design)."""

    http_status = 503
    code = "misconfigured"


class TransientError(AiosError):
    """Temporary trouble; a retry is expected to succeed."""

    http_status = 503
    retryable = True
    code = "unavailable"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, details=details)
        self.retry_after = retry_after


class AnswerLost(TransientError):
    """The request may have reached the provider, which bills it, but its answer never came back
    (it timed out waiting, or the stream broke off). Retried like any transient trouble; the spend
    ledger charges the lost call at its worst case (LedgerStore.fail), never as free."""

    code = "answer_lost"


class RateLimited(TransientError):
    """Too many requests (or runs) for this key; `retry_after` says when there is room."""

    http_status = 429
    code = "rate_limited"


class Forbidden(UserError):
    http_status = 403
    code = "forbidden"


def describe_field_errors(errors: Iterable[Mapping[str, Any]], *, root: str = "(root)") -> str:
    """`field.path: message; ...` from pydantic's error list: what a caller must fix."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err.get('loc', ())) or root}: {err.get('msg', 'invalid')}"
        for err in errors
    )


def to_application_error(error: AiosError) -> ApplicationError:
    """The Temporal failure for an AIOS error: type = class name, retryability from the class."""
    retry_after = getattr(error, "retry_after", None)
    return ApplicationError(
        error.message,
        error.details or None,
        type=type(error).__name__,
        non_retryable=not error.retryable,
        next_retry_delay=timedelta(seconds=retry_after) if retry_after else None,
    )


class ProviderRejected(AiosError):
    """An external provider refused the request for a reason a retry cannot fix (auth, bad
    request, content policy)."""

    http_status = 502
    code = "provider_rejected"


class ContextOverflow(ProviderRejected):
    """The prompt and the answer it asked for do not fit the model's context window. The caller
    built the prompt, so the caller must build a smaller one (or plan another way)."""

    code = "context_overflow"


class ModelRefused(ProviderRejected):
    """The model declined to answer (a refusal or a content filter); a stronger model may not."""

    code = "model_refused"


class BudgetExceeded(UserError):
    """The next model call would take the run over its budget (tokens or dollars)."""

    http_status = 402
    code = "budget_exceeded"


class BadModelOutput(AiosError):
    """A model answered with something unusable (not the requested JSON, empty). Sampling makes
    the next answer different, so the step's retries are worth spending on it."""

    http_status = 502
    retryable = True
    code = "bad_model_output"

"""Delivering a published report to the destination the operator configured: a webhook
(`AIOS_REPORT_WEBHOOK_URL`), signed with `AIOS_REPORT_WEBHOOK_SECRET` when one is set.

The URL is the operator's, not a model's or a user's, so the SSRF policy of the `webhook` tool
does not apply (a receiver on the private network is the usual case)."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx

from aios.config import Settings
from aios.errors import ProviderRejected, TransientError

SIGNATURE_HEADER = "X-AIOS-Signature"
TIMEOUT_S = 30.0


def signature(secret: str, body: bytes) -> str:
    """`sha256=<hex HMAC of the body>`: how a receiver checks the report came from AIOS."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def deliver(settings: Settings, payload: dict[str, Any], idempotency_key: str) -> str | None:
    """POST the report to the configured webhook; the destination delivered to, None when no
    destination is configured. 408/429/5xx and connection errors are retried (the receiver
    should de-duplicate on the `Idempotency-Key` header); other answers fail the step."""
    url = settings.report_webhook_url
    if not url:
        return None
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", "Idempotency-Key": idempotency_key}
    if settings.report_webhook_secret is not None:
        headers[SIGNATURE_HEADER] = signature(
            settings.report_webhook_secret.get_secret_value(), body
        )
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_S, follow_redirects=False) as client:
            response = await client.post(url, content=body, headers=headers)
    except httpx.HTTPError as e:
        raise TransientError(f"report webhook unreachable: {type(e).__name__}: {e}") from e
    if response.status_code in (408, 429) or response.status_code >= 500:
        raise TransientError(f"report webhook answered {response.status_code}; retrying")
    if response.status_code >= 300:
        raise ProviderRejected(
            f"report webhook answered {response.status_code}: {response.text[:200]}"
        )
    return "webhook"

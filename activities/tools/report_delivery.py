"""Delivering a published report to the destinations its tenant has: a webhook, an S3-compatible
bucket, email with the report attached (`AIOS_REPORT_DESTINATIONS`, by tenant; a tenant without an
entry gets the one webhook of `AIOS_REPORT_WEBHOOK_URL`, signed with `AIOS_REPORT_WEBHOOK_SECRET`).

Each destination takes each version of a report (its title and text) once: a delivery is recorded
(`report_deliveries`) the moment the destination took it, outside the publishing transaction, so
that a publish retried because a later destination failed skips the ones already done. The one
window left, a destination that took the report just before the worker died, is covered by the
destination itself: the webhook's `Idempotency-Key`, the same S3 object keys (an upload repeated
is the same object), and an email's `Message-ID` derived from the report, its version and the
destination.

The destinations are the operator's, not a model's or a user's, so the SSRF policy of the
`webhook` tool does not apply (a receiver on the private network is the usual case). Their
secrets (webhook secret, bucket keys, SMTP password) come from the worker's settings, never from
the run, and are never echoed: what a delivery reports is the destination's kind, bucket and
object keys, recipients' count and message id.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import boto3
import httpx
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from activities.smtp import send_message
from aios import rendering
from aios.config import (
    ReportBucket,
    ReportDestinations,
    ReportEmail,
    ReportWebhook,
    Settings,
)
from aios.errors import ConfigurationError, ProviderRejected, TransientError
from aios.stores.reports import DeliveryStore
from aios.text import one_line

SIGNATURE_HEADER = "X-AIOS-Signature"
TIMEOUT_S = 30.0
MEDIA_TYPES = {
    "md": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
}
# S3 answers that a retry may get past; any other error code is the bucket's configuration.
_S3_TRANSIENT = {"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "Throttling"}


def signature(secret: str, body: bytes) -> str:
    """`sha256=<hex HMAC of the body>`: how a receiver checks the report came from AIOS."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Published:
    """The report being published, as the destinations get it."""

    report_id: str
    run_id: str
    tenant: str
    user_id: str
    title: str
    markdown: str
    _files: dict[str, bytes] = field(default_factory=dict, compare=False, repr=False)

    @property
    def digest(self) -> str:
        """This version of the report: a destination takes each version once."""
        return hashlib.sha256(f"{self.title}\0{self.markdown}".encode()).hexdigest()

    def file(self, fmt: str) -> bytes:
        """The report as `md`, `html` or `pdf`, made once (a PDF takes a CPU second)."""
        if fmt not in self._files:
            if fmt == "md":
                self._files[fmt] = self.markdown.encode()
            elif fmt == "html":
                self._files[fmt] = rendering.html_document(self.title, self.markdown).encode()
            else:
                self._files[fmt] = rendering.pdf_document(self.title, self.markdown)
        return self._files[fmt]


def destinations_for(settings: Settings, tenant: str) -> ReportDestinations:
    """The tenant's own entry, else the `"*"` entry, else the one global webhook (or nothing)."""
    configured = settings.report_destinations
    if tenant in configured:
        return configured[tenant]
    if "*" in configured:
        return configured["*"]
    if settings.report_webhook_url:
        return ReportDestinations(
            webhook=ReportWebhook(
                url=settings.report_webhook_url, secret=settings.report_webhook_secret
            )
        )
    return ReportDestinations()


async def deliver_all(
    settings: Settings, deliveries: DeliveryStore, report: Published, idempotency_key: str
) -> list[dict[str, Any]]:
    """Deliver `report` to each of its tenant's destinations that has not taken this version
    yet; what each took (`{"destination": "s3", "bucket": …, "keys": […]}`), those that took it
    before with `"earlier": true`. The first failure stops here (the rest are tried on retry):
    408/429/5xx and connection errors are retried, other refusals fail the step."""
    configured = destinations_for(settings, report.tenant)
    senders: list[tuple[str, Callable[[], Awaitable[dict[str, Any]]]]] = []
    if configured.webhook is not None:
        hook = configured.webhook
        senders.append(("webhook", lambda: _post(hook, report, idempotency_key)))
    if configured.s3 is not None:
        bucket = configured.s3
        senders.append(("s3", lambda: _upload(bucket, report)))
    if configured.email is not None:
        mail = configured.email
        senders.append(("email", lambda: _mail(settings, mail, report)))
    done: list[dict[str, Any]] = []
    for name, send in senders:
        earlier = await deliveries.delivered(report.tenant, report.report_id, name, report.digest)
        if earlier is not None:
            done.append({"destination": name, **earlier, "earlier": True})
            continue
        detail = await send()
        await deliveries.record(report.tenant, report.report_id, name, report.digest, detail)
        done.append({"destination": name, **detail})
    return done


async def _post(hook: ReportWebhook, report: Published, idempotency_key: str) -> dict[str, Any]:
    payload = {
        "report_id": report.report_id,
        "run_id": report.run_id,
        "tenant": report.tenant,
        "user_id": report.user_id,
        "title": report.title,
        "markdown": report.markdown,
        "links": {
            "self": f"/v1/reports/{report.report_id}",
            "html": f"/v1/reports/{report.report_id}.html",
            "pdf": f"/v1/reports/{report.report_id}.pdf",
        },
    }
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", "Idempotency-Key": idempotency_key}
    if hook.secret is not None:
        headers[SIGNATURE_HEADER] = signature(hook.secret.get_secret_value(), body)
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_S, follow_redirects=False) as client:
            response = await client.post(hook.url, content=body, headers=headers)
    except httpx.HTTPError as e:
        raise TransientError(f"report webhook unreachable: {type(e).__name__}") from e
    if response.status_code in (408, 429) or response.status_code >= 500:
        raise TransientError(f"report webhook answered {response.status_code}; retrying")
    if response.status_code >= 300:
        raise ProviderRejected(
            f"report webhook answered {response.status_code}: {response.text[:200]}"
        )
    return {"status": response.status_code}


def _put_objects(bucket: ReportBucket, objects: dict[str, tuple[bytes, str]], digest: str) -> None:
    secret = bucket.secret_access_key.get_secret_value() if bucket.secret_access_key else None
    client = boto3.client(
        "s3",
        endpoint_url=bucket.endpoint_url,
        region_name=bucket.region,
        aws_access_key_id=bucket.access_key_id,
        aws_secret_access_key=secret,
        # Temporal retries the activity; the SDK's own retries would hide how long it took.
        config=BotoConfig(
            retries={"max_attempts": 1, "mode": "standard"},
            connect_timeout=10,
            read_timeout=TIMEOUT_S,
            # S3-compatible servers (MinIO, Ceph, Garage) are addressed by path.
            s3={"addressing_style": "path" if bucket.endpoint_url else "auto"},
        ),
    )
    for key, (body, media_type) in objects.items():
        client.put_object(
            Bucket=bucket.bucket,
            Key=key,
            Body=body,
            ContentType=media_type,
            Metadata={"aios-digest": digest},
        )


async def _upload(bucket: ReportBucket, report: Published) -> dict[str, Any]:
    """Upload the report as `<prefix><report_id>.<format>` for each configured format."""
    files = await asyncio.to_thread(lambda: {fmt: report.file(fmt) for fmt in bucket.formats})
    objects = {
        f"{bucket.prefix}{report.report_id}.{fmt}": (data, MEDIA_TYPES[fmt])
        for fmt, data in files.items()
    }
    try:
        await asyncio.to_thread(_put_objects, bucket, objects, report.digest)
    except NoCredentialsError as e:
        raise ConfigurationError(
            "the report bucket has no credentials: set access_key_id and secret_access_key in "
            "AIOS_REPORT_DESTINATIONS, or give the worker AWS credentials"
        ) from e
    except ClientError as e:
        error = e.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        message = f"the report bucket {bucket.bucket!r} answered {status} {code}"
        if code in _S3_TRANSIENT or status in (408, 429) or status >= 500:
            raise TransientError(message + "; retrying") from e
        raise ConfigurationError(message + ": check AIOS_REPORT_DESTINATIONS") from e
    except BotoCoreError as e:  # endpoint unreachable, connection closed, timeouts
        raise TransientError(f"the report bucket is unreachable: {type(e).__name__}") from e
    return {"bucket": bucket.bucket, "keys": list(objects)}


async def _mail(settings: Settings, mail: ReportEmail, report: Published) -> dict[str, Any]:
    """One message to the configured recipients: the report's text as the body, the report
    attached in each configured format."""
    if not settings.smtp_host or not settings.smtp_from:
        raise ConfigurationError("reports by email need AIOS_SMTP_HOST and AIOS_SMTP_FROM")
    files = await asyncio.to_thread(lambda: {fmt: report.file(fmt) for fmt in mail.attach})
    seed = f"{report.tenant}/{report.report_id}/{report.digest}/email"
    message_id = f"<{hashlib.sha256(seed.encode()).hexdigest()[:32]}@aios>"
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = ", ".join(mail.to)
    message["Subject"] = one_line(f"Report: {report.title}", 200)
    message["Message-ID"] = message_id
    message.set_content(f"{report.title}\n\n{report.markdown}\n")
    for fmt, data in files.items():
        name = f"{report.report_id}.{fmt}"
        maintype, _, subtype = MEDIA_TYPES[fmt].partition(";")[0].partition("/")
        if maintype == "text":
            message.add_attachment(data.decode(), subtype=subtype, filename=name)
        else:
            message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    await send_message(settings, message, "the report")
    return {"recipients": len(mail.to), "message_id": message_id}

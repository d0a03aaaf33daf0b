"""`send_email` over SMTP (`AIOS_SMTP_*`): requires approval, sends once per step.

The message's `Message-ID` is derived from the step's idempotency key, so even in the narrow
window where the mail server accepted the message but AIOS could not record it (and the step is
retried), receiving servers see the same message twice and drop the copy.
"""

from __future__ import annotations

import hashlib
from email.message import EmailMessage
from typing import Annotated, Any

from pydantic import BaseModel, Field

from activities.smtp import send_message
from activities.tools.registry import ToolContext, tool
from aios.errors import ConfigurationError

EmailAddress = Annotated[str, Field(pattern=r"^[^@\s<>,]+@[^@\s<>,]+\.[^@\s<>,]+$")]


class SendEmailArgs(BaseModel):
    to: list[EmailAddress] = Field(min_length=1, max_length=50)
    subject: str = Field(min_length=1, max_length=300)
    body: str = Field(min_length=1, max_length=200_000)


class EmailSent(BaseModel):
    message_id: str
    to: list[str]
    replayed: bool = False


@tool(side_effects="writes", requires_approval=True, timeout_s=60, trusted_output=True)
async def send_email(args: SendEmailArgs, ctx: ToolContext) -> EmailSent:
    """Send an email (plain text) to one or more recipients."""
    settings = ctx.settings
    if not settings.smtp_host or not settings.smtp_from:
        raise ConfigurationError("send_email needs AIOS_SMTP_HOST and AIOS_SMTP_FROM")
    digest = hashlib.sha256(ctx.idempotency_key.encode()).hexdigest()[:32]
    message_id = f"<{digest}@aios>"
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = ", ".join(args.to)
    message["Subject"] = args.subject
    message["Message-ID"] = message_id
    message.set_content(args.body)

    async def effect(_conn: Any) -> dict[str, Any]:
        await send_message(settings, message, "the message")
        return {"message_id": message_id, "to": list(args.to)}

    return EmailSent(**await ctx.once("send_email", effect))

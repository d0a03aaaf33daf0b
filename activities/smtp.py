"""Sending one email through the configured SMTP server (`AIOS_SMTP_*`), for the `send_email` tool
and the approval notices alike, with its failures classified: recipients the server refuses are
the request's fault (not retried); a server that is down or drops the connection is retried."""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage

from aios.config import Settings
from aios.errors import TransientError, UserError


def _send(settings: Settings, message: EmailMessage) -> None:
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    with smtplib.SMTP(settings.smtp_host or "", settings.smtp_port, timeout=30) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_username and password:
            smtp.login(settings.smtp_username, password)
        smtp.send_message(message)


async def send_message(settings: Settings, message: EmailMessage, what: str) -> None:
    """Send `message` (smtplib blocks: in a thread). `what` names it in errors ("the notice")."""
    try:
        await asyncio.to_thread(_send, settings, message)
    except smtplib.SMTPRecipientsRefused as e:
        raise UserError(f"the mail server refused the recipients: {list(e.recipients)}") from e
    except (smtplib.SMTPException, OSError) as e:
        raise TransientError(f"the mail server did not take {what}: {e}") from e

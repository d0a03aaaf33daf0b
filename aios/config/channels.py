"""The ways out and in besides the API: notifications, transcription, Slack."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
)


class NotificationSettings(BaseModel):
    """Notifications: who is told that an approval waits, and where the link in the message goes.
    Mail goes through the SMTP server of `send_email` (`AIOS_SMTP_*`)."""

    public_url: str | None = Field(
        default=None,
        description=(
            "The URL people open AIOS at (the console): the link in a notification is "
            "`<public_url>/#/runs/<run_id>`. Unset: the API's listen address."
        ),
    )
    notify_email_to: dict[str, list[str]] = Field(
        default_factory=dict,
        description=(
            'Who gets an email when an approval opens, per tenant: `{"acme": '
            '["approvers@acme.example"]}`; the key `"*"` means every tenant. Sent through '
            "`AIOS_SMTP_HOST` from `AIOS_SMTP_FROM`."
        ),
    )
    notify_webhook_urls: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Where a JSON notice is POSTed when an approval opens, per tenant (the key "
            '`"*"` means every tenant); the header `Idempotency-Key` names the approval.'
        ),
    )
    # The URL of a Slack incoming webhook is its credential: secret, never logged.
    notify_slack_webhook_urls: dict[str, SecretStr] = Field(
        default_factory=dict,
        description=(
            'Slack incoming webhooks told when an approval opens, per tenant (the key `"*"` '
            'means every tenant): `{"acme": "https://hooks.slack.com/services/…"}`; the message '
            "links to the approval in the console."
        ),
    )


class TranscriptionSettings(BaseModel):
    """Voice input: which engine turns speech into text, and the limits on what it is sent
    (docs/voice.md)."""

    transcription_engine: Literal["auto", "local", "openai", "off"] = Field(
        default="auto",
        description=(
            "Who transcribes audio: `openai` (OpenAI's `/v1/audio/transcriptions`, or any "
            "server speaking it), `local` (PocketSphinx on the API's CPU, English only, no "
            "download), `off`; `auto`: `openai` when an OpenAI key is set, else `local`."
        ),
    )
    transcription_model: str = Field(
        default="whisper-1",
        description="The provider's speech-to-text model (`whisper-1` answers with segments).",
    )
    transcription_base_url: str | None = Field(
        default=None,
        description="The provider's API base URL; unset: `OPENAI_BASE_URL`, else OpenAI's.",
    )
    transcription_api_key: SecretStr | None = Field(
        default=None, description="The provider's key; unset: `OPENAI_API_KEY`."
    )
    transcription_usd_per_minute: float = Field(
        default=0.006,
        ge=0,
        description=(
            "What the provider charges per minute of audio; each transcription is reserved "
            "and settled in the spend ledger under the caller's budgets (the local engine is free)."
        ),
    )
    transcription_timeout_s: float = Field(
        default=120.0, gt=0, description="How long a provider transcription may take."
    )
    max_audio_bytes: int = Field(
        default=25 * 1024 * 1024,
        ge=1024,
        description="The largest audio upload (OpenAI's own limit is 25 MB); larger is a 413.",
    )
    max_audio_seconds: float = Field(
        default=600.0,
        gt=0,
        description="The longest audio taken, measured while decoding; longer is a 413.",
    )


class SlackTeam(BaseModel):
    """One Slack workspace the Slack app is installed in: the AIOS tenant it belongs to and the
    app's secrets there (docs/slack.md)."""

    model_config = ConfigDict(extra="forbid")

    tenant: str = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9_-]{0,99}$")
    signing_secret: SecretStr = Field(description="The app's signing secret (Basic Information).")
    bot_token: SecretStr = Field(description="The bot token (`xoxb-...`) replies are sent with.")


class SlackSettings(BaseModel):
    """The Slack app: which workspaces it serves, for which tenant, with which secrets."""

    slack_teams: dict[str, SlackTeam] = Field(
        default_factory=dict,
        description=(
            'The Slack workspaces the app answers, by team id: `{"T0123": {"tenant": "acme", '
            '"signing_secret": "...", "bot_token": "xoxb-..."}}`. A request from a team not '
            "named here is refused (401). Secrets are never logged."
        ),
    )
    slack_api_url: str = Field(
        default="https://slack.com/api/",
        description="Slack's Web API (`chat.postMessage`, `chat.update`).",
    )

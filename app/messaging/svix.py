"""Webhook signatures as Svix makes them (Resend's webhooks): https://docs.svix.com/receiving/verifying-payloads/how-manual

`svix-signature` holds space-separated `v1,<base64 HMAC-SHA256>` entries (several while a secret is
being rotated) over `"{svix-id}.{svix-timestamp}.{raw body}"`, keyed with the base64-decoded part of the
`whsec_...` secret. A timestamp more than `TOLERANCE` seconds away from now is refused, in the past
(a captured request replayed later) and in the future (Svix's own rule; the same margin covers clock skew
between their servers and ours). Within the window, replays are caught by the svix-id receipt.
"""

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping

TOLERANCE = 5 * 60


class BadSignature(Exception):
    """Why a webhook was refused (English, for the audit row; never contains the secret)."""


def _key(secret: str) -> bytes:
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadSignature("webhook secret is not a whsec_ base64 value") from exc
    if not key:
        raise BadSignature("no webhook secret configured")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `v1,...` signature Svix would send (used by tests and by nothing else in the app)."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(_key(secret), signed, hashlib.sha256).digest()).decode()


def verify(secret: str, headers: Mapping[str, str], body: bytes, *, now: float | None = None) -> str:
    """The svix-id of a correctly signed, fresh request; raises BadSignature otherwise."""
    msg_id = headers.get("svix-id", "")
    stamp = headers.get("svix-timestamp", "")
    signatures = headers.get("svix-signature", "")
    if not (msg_id and stamp and signatures):
        raise BadSignature("missing svix-id, svix-timestamp or svix-signature")
    if len(msg_id) > 200:
        raise BadSignature("svix-id too long")
    try:
        timestamp = int(stamp)
    except ValueError as exc:
        raise BadSignature("svix-timestamp is not a number") from exc
    current = time.time() if now is None else now
    if timestamp < current - TOLERANCE:
        raise BadSignature("timestamp too old")
    if timestamp > current + TOLERANCE:
        raise BadSignature("timestamp in the future")
    expected = sign(secret, msg_id, timestamp, body).partition(",")[2].encode()
    for entry in signatures.split():
        version, _, value = entry.partition(",")
        # compare_digest over every candidate: the time taken does not tell how much of one matched.
        if version == "v1" and hmac.compare_digest(value.encode(), expected):
            return msg_id
    raise BadSignature("no matching v1 signature")

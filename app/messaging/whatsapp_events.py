"""WhatsApp webhook payloads (Meta Cloud API, WPPConnect server) turned into protocol events.

Pure functions: no database, no HTTP. The routes in `app.api.webhooks_whatsapp` authenticate the
request, then hand these events to `app.messaging.inbound`. A payload that is not the provider's shape
raises `Malformed` (the route answers 400); fields we do not use are ignored, unknown message types
become kind "other" so a customer's message is never dropped silently.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from app.messaging.protocol import InboundEvent, StatusEvent

CLOUD_STATUSES = {"sent", "delivered", "read", "failed"}
# WPPConnect/WA-Web ack levels: -1 error, 0 clock (pending), 1 sent (server), 2 delivered, 3 read,
# 4 played (voice notes, also read).
WPP_ACKS = {-1: "failed", 1: "sent", 2: "delivered", 3: "read", 4: "read"}
# Provider media types -> InboundEvent.kind (text | image | document | button | audio | other).
_MEDIA_KINDS = {
    "image": "image",
    "sticker": "image",
    "document": "document",
    "audio": "audio",
    "video": "other",
}
_WPP_KINDS = {
    "chat": "text",
    "image": "image",
    "sticker": "image",
    "document": "document",
    "ptt": "audio",
    "audio": "audio",
    "buttons_response": "button",
    "template_button_reply": "button",
    "list_response": "button",
}


class Malformed(ValueError):
    """Not the provider's payload shape (answered 400)."""


@dataclass
class CloudChange:
    """Everything one payload says about one phone number."""

    phone_number_id: str
    statuses: list[StatusEvent] = field(default_factory=list)
    inbound: list[InboundEvent] = field(default_factory=list)


@dataclass(frozen=True)
class QualityEvent:
    """Meta's `phone_number_quality_update`: posted on the WABA's entry (entry.id), naming the number
    only by its display form. `event` is FLAGGED / UNFLAGGED / DOWNGRADE / UPGRADE (others are kept
    as sent); `current_limit` the number's messaging tier (TIER_250 ... TIER_UNLIMITED)."""

    waba_id: str
    display_phone_number: str
    event: str
    current_limit: str


def parse_cloud_quality(payload: Any) -> list[QualityEvent]:
    """The quality updates of a `whatsapp_business_account` payload (already shape-checked by
    `parse_cloud`); a change missing its WABA id or number is skipped, not refused."""
    events: list[QualityEvent] = []
    for entry in payload.get("entry") or []:
        waba = entry.get("id")
        for change in entry.get("changes") or []:
            if change.get("field") != "phone_number_quality_update":
                continue
            value = _dict(change.get("value"))
            display = "".join(ch for ch in _str(value.get("display_phone_number"), 40) if ch.isdigit())
            if not isinstance(waba, str) or not waba or len(waba) > 64 or not display:
                continue
            events.append(
                QualityEvent(
                    waba_id=waba,
                    display_phone_number=display,
                    event=_str(value.get("event"), 40).upper(),
                    current_limit=_str(value.get("current_limit"), 40).upper(),
                )
            )
    return events


def e164_from_wa_id(wa_id: str) -> str:
    """WhatsApp ids are digits in international form. Brazilian mobiles registered before the ninth
    digit (2012-2016) still carry 8-digit ids (55 + DDD + 8 digits starting 6-9): the customer's number
    on file is the 9-digit form, so the 9 is put back."""
    digits = "".join(ch for ch in wa_id if ch.isdigit())
    if len(digits) == 12 and digits.startswith("55") and digits[4] in "6789":
        digits = digits[:4] + "9" + digits[4:]
    return "+" + digits


def _at(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _str(value: Any, limit: int = 4096) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def parse_cloud(payload: Any) -> list[CloudChange]:
    """The `whatsapp_business_account` envelope, grouped by `metadata.phone_number_id`."""
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        raise Malformed("not a whatsapp_business_account payload")
    entries = payload.get("entry")
    if not isinstance(entries, list):
        raise Malformed("entry must be a list")
    changes: dict[str, CloudChange] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("changes"), list):
            raise Malformed("entry.changes must be a list")
        for change in entry["changes"]:
            if not isinstance(change, dict):
                raise Malformed("change must be an object")
            if change.get("field") != "messages":
                continue  # quality updates: parse_cloud_quality; template, account updates: unused
            value = change.get("value")
            if not isinstance(value, dict):
                raise Malformed("change.value must be an object")
            number = _dict(value.get("metadata")).get("phone_number_id")
            if not isinstance(number, str) or not number or len(number) > 64:
                raise Malformed("metadata.phone_number_id is required")
            group = changes.setdefault(number, CloudChange(number))
            group.statuses.extend(_cloud_statuses(value.get("statuses")))
            group.inbound.extend(_cloud_messages(value.get("messages"), value.get("contacts")))
    return list(changes.values())


CALLBACK_PREFIX = "crm-msg:"


def callback_data(message_id: int) -> str:
    """What the Cloud adapter sends as `biz_opaque_callback_data` (Meta echoes it in status webhooks)."""
    return f"{CALLBACK_PREFIX}{message_id}"


def message_id_from_callback(value: Any) -> int | None:
    if not isinstance(value, str) or not value.startswith(CALLBACK_PREFIX):
        return None
    digits = value[len(CALLBACK_PREFIX) :]
    return int(digits) if digits.isdigit() and len(digits) < 19 else None


def _cloud_statuses(items: Any) -> list[StatusEvent]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise Malformed("statuses must be a list")
    events = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
            raise Malformed("status.id is required")
        status = item.get("status")
        if status not in CLOUD_STATUSES:
            continue
        errors = item.get("errors") if isinstance(item.get("errors"), list) else []
        first = _dict(errors[0]) if errors else {}
        code = first.get("code")
        events.append(
            StatusEvent(
                provider_message_id=item["id"][:200],
                status=status,
                at=_at(item.get("timestamp")),
                error_code=str(code) if code is not None else None,
                error=_str(first.get("title") or first.get("message"), 300) or None,
                event_id=f"{item['id']}:{status}"[:200],
                recipient=e164_from_wa_id(_str(item.get("recipient_id"), 32))
                if item.get("recipient_id")
                else None,
                message_id=message_id_from_callback(item.get("biz_opaque_callback_data")),
            )
        )
    return events


def _cloud_messages(items: Any, contacts: Any) -> list[InboundEvent]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise Malformed("messages must be a list")
    names = {
        c.get("wa_id"): _str(_dict(c.get("profile")).get("name"), 120)
        for c in (contacts if isinstance(contacts, list) else [])
        if isinstance(c, dict)
    }
    events = []
    for item in items:
        if not isinstance(item, dict):
            raise Malformed("message must be an object")
        wamid, sender = item.get("id"), item.get("from")
        if not isinstance(wamid, str) or not wamid or not isinstance(sender, str) or not sender:
            raise Malformed("message.id and message.from are required")
        kind, text, media = _cloud_content(item)
        events.append(
            InboundEvent(
                provider_message_id=wamid[:200],
                sender=e164_from_wa_id(sender),
                text=text,
                kind=kind,
                media=media,
                sender_name=names.get(sender) or None,
                at=_at(item.get("timestamp")),
            )
        )
    return events


def _cloud_content(item: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """(kind, text, media) of one inbound Cloud API message."""
    kind = item.get("type")
    if kind == "text":
        return "text", _str(_dict(item.get("text")).get("body")), {}
    if kind in _MEDIA_KINDS:
        obj = _dict(item.get(kind))
        media = {
            k: _str(obj.get(k), 500)
            for k in ("id", "mime_type", "sha256", "filename", "caption")
            if obj.get(k)
        }
        return _MEDIA_KINDS[kind], _str(obj.get("caption")), media
    if kind == "button":  # a template's quick-reply button
        button = _dict(item.get("button"))
        return "button", _str(button.get("text")), {"payload": _str(button.get("payload"), 256)}
    if kind == "interactive":  # a reply to our interactive buttons or list
        interactive = _dict(item.get("interactive"))
        reply = _dict(interactive.get("button_reply") or interactive.get("list_reply"))
        return "button", _str(reply.get("title")), {"payload": _str(reply.get("id"), 256)}
    return "other", "", {"type": _str(kind, 40)}


# ---------------------------------------------------------------- WPPConnect


@dataclass
class WppEvent:
    """One WPPConnect webhook: a message, an ack, or a session change (status / QR code)."""

    event: str
    inbound: InboundEvent | None = None
    status: StatusEvent | None = None
    session_status: str | None = None
    qrcode: str | None = None


def _wpp_id(value: Any) -> str:
    # WA-Web message keys arrive serialised ("true_5511...@c.us_3EB0...") or as {"_serialized": ...}.
    if isinstance(value, dict):
        value = value.get("_serialized") or value.get("id")
    return value[:200] if isinstance(value, str) else ""


def wpp_phone(jid: str) -> str:
    """ "5511987654321@c.us" -> "+5511987654321" (with the Brazilian ninth digit restored)."""
    return e164_from_wa_id(jid.split("@", 1)[0])


def parse_wpp(payload: Any) -> WppEvent:
    if not isinstance(payload, dict) or not isinstance(payload.get("event"), str):
        raise Malformed("event is required")
    event = payload["event"].lower()
    if event in {"onmessage", "onanymessage"}:
        if payload.get("fromMe") or payload.get("isGroupMsg"):
            return WppEvent(event)  # our own echoes and group chats are not customer conversations
        message_id, sender = _wpp_id(payload.get("id")), payload.get("from")
        if not message_id or not isinstance(sender, str) or "@" not in sender:
            raise Malformed("message id and from are required")
        if not sender.endswith("@c.us"):
            return WppEvent(event)  # status broadcasts, newsletters
        kind = payload.get("type")
        text, media = _str(payload.get("body")), {}
        if kind in {"image", "document", "ptt", "audio", "video", "sticker"}:
            media = {
                k: _str(payload.get(k), 500) for k in ("mimetype", "filename", "caption") if payload.get(k)
            }
            text = _str(payload.get("caption"))  # for media, body holds the base64 thumbnail
        sender_info = _dict(payload.get("sender"))
        return WppEvent(
            event,
            inbound=InboundEvent(
                provider_message_id=message_id,
                sender=wpp_phone(sender),
                text=text,
                kind=_WPP_KINDS.get(str(kind), "other"),
                media=media,
                sender_name=_str(sender_info.get("pushname") or payload.get("notifyName"), 120) or None,
                at=_at(payload.get("t") or payload.get("timestamp")),
            ),
        )
    if event == "onack":
        message_id, ack = _wpp_id(payload.get("id")), payload.get("ack")
        if not message_id or not isinstance(ack, int) or isinstance(ack, bool):
            raise Malformed("id and ack are required")
        status = WPP_ACKS.get(ack)
        if status is None:
            return WppEvent(event)
        return WppEvent(
            event,
            status=StatusEvent(
                provider_message_id=message_id,
                status=status,
                at=_at(payload.get("t")),
                event_id=f"{message_id}:{status}"[:200],
            ),
        )
    if event == "status-find":
        return WppEvent(event, session_status=_str(payload.get("status"), 60))
    if event == "qrcode":
        return WppEvent(event, qrcode=_str(payload.get("qrcode"), 20000) or None)
    return WppEvent(event)  # onpresencechanged, onreactionmessage, ...: acknowledged, not used

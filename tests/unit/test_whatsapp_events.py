"""WhatsApp webhook payloads (Meta's documented examples, WPPConnect's events) into protocol events."""

from datetime import UTC, datetime

import pytest

from app.messaging.whatsapp_events import Malformed, e164_from_wa_id, parse_cloud, parse_wpp


def _envelope(value: dict) -> dict:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "551140000000", "phone_number_id": "PNID"}, **value}}]}],
    }  # fmt: skip


def test_ninth_digit_is_restored_for_older_brazilian_mobiles() -> None:
    assert e164_from_wa_id("551187654321") == "+5511987654321"
    assert e164_from_wa_id("5511987654321") == "+5511987654321"
    assert e164_from_wa_id("551133334444") == "+551133334444"  # landline: starts 2-5
    assert e164_from_wa_id("16505551234") == "+16505551234"


def test_cloud_text_and_contact_name() -> None:
    [change] = parse_cloud(_envelope({
        "contacts": [{"profile": {"name": "Kerry Fisher"}, "wa_id": "16315551234"}],
        "messages": [{"from": "16315551234", "id": "wamid.ABC", "timestamp": "1700000000", "type": "text",
                      "text": {"body": "Oi"}}],
    }))  # fmt: skip
    assert change.phone_number_id == "PNID" and change.statuses == []
    [event] = change.inbound
    assert (event.provider_message_id, event.sender, event.text, event.kind, event.sender_name) == (
        "wamid.ABC", "+16315551234", "Oi", "text", "Kerry Fisher",
    )  # fmt: skip
    assert event.at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


def test_cloud_media_buttons_and_unknown_types() -> None:
    messages = [
        {"from": "1", "id": "a", "type": "image",
         "image": {"id": "M1", "mime_type": "image/jpeg", "caption": "c"}},
        {"from": "1", "id": "b", "type": "document", "document": {"id": "M2", "filename": "f.pdf"}},
        {"from": "1", "id": "c", "type": "button", "button": {"text": "Sim", "payload": "YES"}},
        {"from": "1", "id": "d", "type": "interactive",
         "interactive": {"type": "list_reply", "list_reply": {"id": "p500", "title": "Plano 500"}}},
        {"from": "1", "id": "e", "type": "location", "location": {"latitude": 1}},
    ]  # fmt: skip
    [change] = parse_cloud(_envelope({"messages": messages}))
    got = [(e.kind, e.text, e.media) for e in change.inbound]
    assert got == [
        ("image", "c", {"id": "M1", "mime_type": "image/jpeg", "caption": "c"}),
        ("document", "", {"id": "M2", "filename": "f.pdf"}),
        ("button", "Sim", {"payload": "YES"}),
        ("button", "Plano 500", {"payload": "p500"}),
        ("other", "", {"type": "location"}),
    ]


def test_cloud_statuses() -> None:
    [change] = parse_cloud(_envelope({"statuses": [
        {"id": "wamid.1", "status": "delivered", "timestamp": "1700000000", "recipient_id": "551187654321"},
        {"id": "wamid.1", "status": "failed", "timestamp": "1700000001", "recipient_id": "1",
         "errors": [{"code": 131026, "title": "Message Undeliverable"}]},
        {"id": "wamid.1", "status": "deleted"},
    ]}))  # fmt: skip
    delivered, failed = change.statuses
    assert (delivered.status, delivered.recipient, delivered.event_id) == (
        "delivered",
        "+5511987654321",
        "wamid.1:delivered",
    )
    assert (failed.status, failed.error_code, failed.error) == ("failed", "131026", "Message Undeliverable")


@pytest.mark.parametrize(
    "payload",
    [None, [], {"object": "page"}, {"object": "whatsapp_business_account"},
     {"object": "whatsapp_business_account", "entry": [{"changes": "x"}]},
     _envelope({"messages": "x"}), _envelope({"messages": [{"id": "a"}]}), _envelope({"statuses": [{}]}),
     {"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": {}}]}]}],
)  # fmt: skip
def test_cloud_malformed(payload) -> None:
    with pytest.raises(Malformed):
        parse_cloud(payload)


def test_cloud_other_fields_are_skipped() -> None:
    payload = {"object": "whatsapp_business_account", "entry": [{"changes": [
        {"field": "message_template_status_update", "value": {"event": "APPROVED"}}]}]}  # fmt: skip
    assert parse_cloud(payload) == []


def test_wpp_message_ack_and_session_events() -> None:
    message = parse_wpp({"event": "onmessage", "session": "s", "id": "false_551187654321@c.us_3EB0",
                         "from": "551187654321@c.us", "body": "Oi", "type": "chat", "t": 1700000000,
                         "sender": {"pushname": "Ana"}})  # fmt: skip
    assert message.inbound is not None
    assert (message.inbound.sender, message.inbound.text, message.inbound.sender_name) == (
        "+5511987654321",
        "Oi",
        "Ana",
    )
    ack = parse_wpp({"event": "onack", "id": {"_serialized": "true_x@c.us_1"}, "ack": 3})
    assert ack.status is not None and (ack.status.provider_message_id, ack.status.status) == (
        "true_x@c.us_1",
        "read",
    )
    assert parse_wpp({"event": "onack", "id": "true_x@c.us_1", "ack": 0}).status is None  # pending clock
    assert parse_wpp({"event": "status-find", "status": "inChat"}).session_status == "inChat"
    assert (
        parse_wpp({"event": "qrcode", "qrcode": "data:image/png;base64,AA"}).qrcode
        == "data:image/png;base64,AA"
    )
    # Our own echoes, groups and broadcasts are not customer conversations.
    assert parse_wpp({"event": "onmessage", "fromMe": True, "id": "x", "from": "1@c.us"}).inbound is None
    assert (
        parse_wpp({"event": "onmessage", "id": "x", "from": "123@g.us", "isGroupMsg": True}).inbound is None
    )
    assert parse_wpp({"event": "onmessage", "id": "x", "from": "status@broadcast"}).inbound is None


@pytest.mark.parametrize(
    "payload",
    [None, {}, {"event": 3}, {"event": "onmessage", "from": "1@c.us"}, {"event": "onack", "id": "x"},
     {"event": "onack", "id": "x", "ack": True}],
)  # fmt: skip
def test_wpp_malformed(payload) -> None:
    with pytest.raises(Malformed):
        parse_wpp(payload)

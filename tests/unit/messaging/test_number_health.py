"""The number-health rules (app.messaging.number_health): Meta's tier names, levels, what counts as a
worsening, and how the health bends a Cloud API number's governor policy (limits.policy_for)."""

from datetime import UTC, datetime

import pytest

from app.messaging import number_health
from app.messaging.governor import Policy
from app.messaging.kinds import WhatsAppCloudConfig
from app.messaging.limits import policy_for
from app.messaging.number_health import NumberHealth

CONFIG = WhatsAppCloudConfig(
    phone_number_id="1",
    waba_id="2",
    access_token="t",
    app_secret="s",
    verify_token="v",
    messages_per_second=80,
    daily_unique_recipients=100_000,
)
CREATED = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("limit", "tier"),
    [
        ("TIER_250", 250),
        ("TIER_1K", 1_000),
        ("TIER_2K", 2_000),
        ("TIER_10K", 10_000),
        ("TIER_100K", 100_000),
        ("TIER_UNLIMITED", None),
        ("", None),
        ("tier_1k", None),
    ],
)
def test_tier_of(limit: str, tier: int | None) -> None:
    assert number_health.tier_of(limit) == tier


def test_levels() -> None:
    assert NumberHealth().level == "healthy"
    assert NumberHealth(failures="slowed").level == "slowed"
    assert NumberHealth(quality="flagged", failures="slowed").level == "flagged"
    assert NumberHealth(quality="flagged", failures="paused").level == "restricted"


def test_policy_follows_the_health() -> None:
    def policy(**health: object) -> Policy:
        return policy_for(CONFIG, CREATED, state={"health": health} if health else None)

    assert (policy().rate_per_s, policy().unique_recipients_24h) == (80, 100_000)
    flagged = policy(quality="flagged", current_limit="TIER_10K")
    assert (flagged.rate_per_s, flagged.unique_recipients_24h) == (40, 10_000)
    both = policy(quality="flagged", failures="slowed", current_limit="TIER_UNLIMITED")
    assert (both.rate_per_s, both.unique_recipients_24h) == (20, 100_000)
    assert policy(current_limit="TIER_250").unique_recipients_24h == 250
    # Never below one message a second, whatever the configured rate.
    slow = WhatsAppCloudConfig.model_construct(**{**CONFIG.model_dump(), "messages_per_second": 1})
    assert policy_for(slow, CREATED, state={"health": {"quality": "flagged"}}).rate_per_s == 1.0
    # Unknown keys in the stored state (an older or newer writer) are ignored.
    assert policy(quality="flagged", something="else").rate_per_s == 40


def test_worse() -> None:
    healthy, flagged = NumberHealth(current_limit="TIER_10K"), NumberHealth(quality="flagged")
    assert number_health.worse(healthy, flagged)
    assert not number_health.worse(flagged, healthy)
    assert number_health.worse(healthy, NumberHealth(current_limit="TIER_1K"))  # a downgrade
    assert not number_health.worse(healthy, NumberHealth(current_limit="TIER_100K"))
    assert number_health.worse(NumberHealth(current_limit="TIER_UNLIMITED"), healthy)
    assert not number_health.worse(NumberHealth(), NumberHealth(current_limit="TIER_250"))  # first news


def test_parse_cloud_quality() -> None:
    from app.messaging.whatsapp_events import QualityEvent, parse_cloud, parse_cloud_quality

    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "phone_number_quality_update",
                        "value": {
                            "display_phone_number": "+55 11 4000-0000",
                            "event": "flagged",
                            "current_limit": "TIER_1K",
                        },
                    },
                    {"field": "phone_number_quality_update", "value": {"event": "FLAGGED"}},  # no number
                ],
            }
        ],
    }
    assert parse_cloud(payload) == []  # not a message change
    assert parse_cloud_quality(payload) == [
        QualityEvent("102290129340398", "551140000000", "FLAGGED", "TIER_1K")
    ]

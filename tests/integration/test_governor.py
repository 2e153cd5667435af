"""The sending governor with a controlled clock, on both stores (real Redis via the Lua script, and the
in-process one): rate spacing, pair rate, rolling daily cap, Meta's unique-recipient tier, backoff,
pause, randomised gaps, and atomic slots under concurrent reservers."""

import itertools
import threading
import uuid
from collections.abc import Iterator

import pytest

from app.messaging.governor import DAY_S, Governor, MemoryGovernor, Policy, RedisGovernor

T0 = 1_800_000_000.0


@pytest.fixture(params=["memory", "redis"])
def gov(request: pytest.FixtureRequest) -> Iterator[Governor]:
    if request.param == "memory":
        yield MemoryGovernor()
        return
    import redis

    url = request.getfixturevalue("redis_url")
    client = redis.Redis.from_url(url)
    prefix = f"govtest:{uuid.uuid4().hex[:8]}"
    yield RedisGovernor(client, prefix=prefix)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


def test_slots_are_spaced_by_the_rate_and_far_slots_are_not_taken(gov: Governor) -> None:
    policy = Policy(rate_per_s=50, max_wait_s=1.0)
    slots = [gov.reserve("num", f"r{i}", policy, T0) for i in range(51)]
    assert all(s.granted for s in slots)
    assert [round(s.at - T0, 6) for s in slots[:3]] == [0.0, 0.02, 0.04]
    assert slots[-1].at == pytest.approx(T0 + 1.0)
    late = gov.reserve("num", "r-late", policy, T0)
    assert not late.granted and late.reason == "wait" and late.at == pytest.approx(T0 + 1.02)
    # Not taken: the next caller still gets that same slot.
    assert gov.reserve("num", "r-late", policy, T0 + 1.02).at == pytest.approx(T0 + 1.02)
    # Another identity is independent.
    assert gov.reserve("other", "r0", policy, T0).at == T0


def test_pair_rate_spaces_messages_to_one_recipient(gov: Governor) -> None:
    policy = Policy(rate_per_s=80, pair_gap_s=6, max_wait_s=5)
    assert gov.reserve("num", "+5511999990001", policy, T0).granted
    again = gov.reserve("num", "+5511999990001", policy, T0 + 1)
    assert not again.granted and again.reason == "pair" and again.at == pytest.approx(T0 + 6)
    # It holds nobody else up, and it is never granted early even when the wait is short.
    other = gov.reserve("num", "+5511999990002", policy, T0 + 1)
    assert other.granted and other.at == T0 + 1
    assert not gov.reserve("num", "+5511999990001", policy, T0 + 5.9).granted
    assert gov.reserve("num", "+5511999990001", policy, T0 + 6).granted


def test_rolling_daily_cap(gov: Governor) -> None:
    policy = Policy(daily_cap=3)
    assert all(gov.reserve("wpp", f"r{i}", policy, T0 + i).granted for i in range(3))
    full = gov.reserve("wpp", "r9", policy, T0 + 100)
    assert not full.granted and full.reason == "daily_cap" and full.at == pytest.approx(T0 + DAY_S)
    assert gov.reserve("wpp", "r9", policy, T0 + DAY_S + 0.5).granted  # the first send left the window
    assert gov.usage("wpp", T0 + DAY_S + 0.5)["sends_24h"] == 3


def test_unique_recipient_tier_counts_new_recipients_only(gov: Governor) -> None:
    policy = Policy(unique_recipients_24h=2)
    assert gov.reserve("num", "a", policy, T0).granted
    assert gov.reserve("num", "b", policy, T0 + 1).granted
    assert gov.reserve("num", "a", policy, T0 + 2).granted  # already contacted: free
    tier = gov.reserve("num", "c", policy, T0 + 3)
    assert not tier.granted and tier.reason == "tier" and tier.at == pytest.approx(T0 + DAY_S)
    # "b" left the window; "a" counts from its latest message (T0 + 2).
    assert gov.reserve("num", "c", policy, T0 + DAY_S + 1).granted
    assert gov.usage("num", T0 + DAY_S + 1)["unique_recipients_24h"] == 2
    assert not gov.reserve("num", "d", policy, T0 + DAY_S + 1.5).granted


def test_backoff_and_pause(gov: Governor) -> None:
    policy = Policy(rate_per_s=10)
    gov.reserve("num", "a", policy, T0)
    gov.backoff("num", T0 + 30)
    assert gov.reserve("num", "a", policy, T0 + 1).at == pytest.approx(T0 + 30)
    gov.backoff("num", T0 + 5)  # never earlier than what is already promised
    assert gov.reserve("num", "b", policy, T0 + 29).at == pytest.approx(T0 + 30)
    gov.pause("num", "131048 spam rate")
    stopped = gov.reserve("num", "c", policy, T0 + 40)
    assert not stopped.granted and stopped.reason == "paused"
    assert gov.usage("num", T0 + 40)["paused"] == "131048 spam rate"
    gov.resume("num")
    assert gov.reserve("num", "c", policy, T0 + 40).granted


def test_randomised_gaps_stay_in_their_range(gov: Governor) -> None:
    policy = Policy(min_gap_s=8, max_gap_s=20, max_wait_s=10_000)
    slots = [gov.reserve("wpp", f"r{i}", policy, T0).at for i in range(30)]
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert all(8 <= g <= 20 for g in gaps)
    assert len({round(g, 3) for g in gaps}) > 10  # not one fixed gap


def test_concurrent_reservers_get_distinct_evenly_spaced_slots(gov: Governor) -> None:
    policy = Policy(rate_per_s=50, max_wait_s=100)
    slots: list[float] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        for i in range(50):
            s = gov.reserve("num", f"w{n}-{i}", policy, T0)
            assert s.granted
            with lock:
                slots.append(s.at)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    slots.sort()
    assert len(slots) == 200
    assert all(b - a == pytest.approx(0.02, abs=1e-5) for a, b in itertools.pairwise(slots))


def test_channel_policies() -> None:
    from datetime import UTC, datetime, timedelta

    from app.messaging.kinds import ResendConfig, WhatsAppCloudConfig, WppConnectConfig
    from app.messaging.limits import identity_for, policy_for, warmup_cap

    cloud = WhatsAppCloudConfig(
        phone_number_id="1", waba_id="2", access_token="t", app_secret="s", verify_token="v"
    )
    day0 = datetime(2026, 12, 1, tzinfo=UTC)
    p = policy_for(cloud, day0)
    assert (p.rate_per_s, p.pair_gap_s, p.unique_recipients_24h) == (80, 6.0, 250)
    wpp = WppConnectConfig(server_url="http://x", secret_key="k", session="s1", daily_cap=300)
    assert [warmup_cap(300, day0, day0 + timedelta(days=d)) for d in range(6)] == [20, 40, 80, 160, 300, 300]
    assert policy_for(wpp, day0, day0 + timedelta(days=2)).daily_cap == 80
    assert policy_for(wpp.model_copy(update={"warmup": False}), day0, day0).daily_cap == 300
    mail = ResendConfig(api_key="re_x", from_email="Vendas@Loja.com.br")
    assert identity_for("t_1", 5, mail) == "t_1:email:loja.com.br"
    assert identity_for("t_1", 5, cloud) == "t_1:channel:5"

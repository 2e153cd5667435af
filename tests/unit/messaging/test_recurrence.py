"""Recurrence of scheduled messages: wall-clock occurrences in the tenant's zone, DST gaps and overlaps
(America/Sao_Paulo's last transitions, America/New_York), weekly days, monthly clamping, ends."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from app.messaging.recurrence import Rule, first, following, to_local, to_utc

SP = ZoneInfo("America/Sao_Paulo")
NY = ZoneInfo("America/New_York")


def series(rule: Rule, start: datetime, n: int) -> list[datetime]:
    out = [first(rule, start)]
    while len(out) < n:
        nxt = following(rule, start, out[-1], len(out))
        if nxt is None:
            break
        out.append(nxt)
    return out


def test_daily_keeps_the_wall_clock_across_new_york_spring_forward() -> None:
    days = series(Rule("daily", count=3), datetime(2026, 3, 7, 9, 0), 3)
    utc = [to_utc(d, NY) for d in days]
    assert utc == [
        datetime(2026, 3, 7, 14, 0, tzinfo=UTC),  # EST, UTC-5
        datetime(2026, 3, 8, 13, 0, tzinfo=UTC),  # EDT, UTC-4: same 09:00 on the wall
        datetime(2026, 3, 9, 13, 0, tzinfo=UTC),
    ]
    assert all(to_local(u, NY).hour == 9 for u in utc)


def test_daily_keeps_the_wall_clock_across_new_york_fall_back() -> None:
    utc = [to_utc(d, NY) for d in series(Rule("daily", count=2), datetime(2026, 10, 31, 9, 0), 2)]
    assert utc == [datetime(2026, 10, 31, 13, 0, tzinfo=UTC), datetime(2026, 11, 1, 14, 0, tzinfo=UTC)]


def test_sao_paulo_gap_moves_forward_by_the_gap() -> None:
    # 2018-11-04: clocks went from 00:00 to 01:00 (Brazil's last DST start); 00:30 did not exist.
    days = series(Rule("daily", count=3), datetime(2018, 11, 3, 0, 30), 3)
    utc = [to_utc(d, SP) for d in days]
    assert utc[0] == datetime(2018, 11, 3, 3, 30, tzinfo=UTC)  # UTC-3
    assert utc[1] == datetime(2018, 11, 4, 3, 30, tzinfo=UTC)  # read at UTC-3: 01:30 on the wall
    assert to_local(utc[1], SP) == datetime(2018, 11, 4, 1, 30)
    assert utc[2] == datetime(2018, 11, 5, 2, 30, tzinfo=UTC)  # back to 00:30, now UTC-2
    # The series itself is not shifted: the next occurrence is computed from the entered 00:30.
    assert days[2] == datetime(2018, 11, 5, 0, 30)


def test_sao_paulo_overlap_takes_the_first_occurrence() -> None:
    # 2019-02-17 00:00 went back to 2019-02-16 23:00 (the end of Brazilian DST): 23:30 happened twice.
    assert to_utc(datetime(2019, 2, 16, 23, 30), SP) == datetime(2019, 2, 17, 1, 30, tzinfo=UTC)
    # Since 2019 Brazil has no DST: a daily 09:00 is 12:00 UTC all year.
    days = series(Rule("daily", count=366), datetime(2025, 1, 1, 9, 0), 366)
    assert {to_utc(d, SP).time().isoformat() for d in days} == {"12:00:00"}


def test_new_york_overlap_takes_the_first_occurrence() -> None:
    assert to_utc(datetime(2026, 11, 1, 1, 30), NY) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)


def test_weekly_on_chosen_weekdays_and_interval() -> None:
    monday = datetime(2026, 12, 7, 10, 0)
    rule = Rule("weekly", weekdays=(0, 2, 4), count=5)
    assert [d.date() for d in series(rule, monday, 10)] == [
        date(2026, 12, 7),
        date(2026, 12, 9),
        date(2026, 12, 11),
        date(2026, 12, 14),
        date(2026, 12, 16),
    ]
    fortnightly = Rule("weekly", interval=2, weekdays=(1,), count=3)
    assert [d.date() for d in series(fortnightly, monday, 3)] == [
        date(2026, 12, 8),  # first Tuesday on or after the entered date
        date(2026, 12, 22),
        date(2027, 1, 5),
    ]


def test_monthly_clamps_to_the_last_day_and_comes_back() -> None:
    days = series(Rule("monthly", count=5), datetime(2027, 1, 31, 8, 0), 5)
    assert [d.date() for d in days] == [
        date(2027, 1, 31),
        date(2027, 2, 28),
        date(2027, 3, 31),
        date(2027, 4, 30),
        date(2027, 5, 31),
    ]
    quarterly = series(Rule("monthly", interval=3, day=10, count=3), datetime(2026, 12, 15, 8, 0), 3)
    assert [d.date() for d in quarterly] == [date(2027, 3, 10), date(2027, 6, 10), date(2027, 9, 10)]


def test_until_and_count_end_the_series() -> None:
    start = datetime(2026, 12, 7, 9, 0)
    assert len(series(Rule("daily", until=date(2026, 12, 10)), start, 100)) == 4
    assert len(series(Rule("daily", count=2), start, 100)) == 2
    assert following(Rule("daily", count=1), start, start, 1) is None


def test_rule_round_trips_through_json() -> None:
    rule = Rule("weekly", interval=2, weekdays=(0, 4), until=date(2027, 1, 1), count=None)
    assert Rule.from_json(rule.as_json()) == rule

"""Recurrence of scheduled messages: occurrences in wall-clock time of the tenant's zone, then UTC.

Occurrences are computed on local dates and the entered local time (never by adding 24 h to a UTC
instant), so "every day at 09:00" stays at 09:00 across daylight-saving changes. A local time that does
not exist (the spring-forward gap) is read with the offset in force before the change, i.e. moved
forward by the gap (00:30 on a Brazilian DST start day is sent at 01:30); an ambiguous one (fall back)
is its first occurrence (fold=0). Monthly on a day the month lacks (31 in April) is the month's last day.
"""

import calendar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

FREQUENCIES = ("daily", "weekly", "monthly")
# The search for the next weekly date never needs more than this many days (interval ≤ 52 weeks).
_MAX_WEEKLY_SCAN = 7 * 53


@dataclass(frozen=True)
class Rule:
    freq: str  # daily | weekly | monthly
    interval: int = 1
    weekdays: tuple[int, ...] = field(default_factory=tuple)  # 0 = Monday; weekly only
    day: int | None = None  # monthly only; default: the start's day
    until: date | None = None  # last local date an occurrence may fall on
    count: int | None = None  # total occurrences, the first included

    def as_json(self) -> dict[str, object]:
        return {
            "freq": self.freq,
            "interval": self.interval,
            "weekdays": list(self.weekdays),
            "day": self.day,
            "until": self.until.isoformat() if self.until else None,
            "count": self.count,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> "Rule":
        until = data.get("until")
        return cls(
            freq=str(data["freq"]),
            interval=int(data.get("interval") or 1),  # type: ignore[call-overload]
            weekdays=tuple(int(d) for d in data.get("weekdays") or ()),  # type: ignore[attr-defined]
            day=int(data["day"]) if data.get("day") else None,  # type: ignore[call-overload]
            until=date.fromisoformat(str(until)) if until else None,
            count=int(data["count"]) if data.get("count") else None,  # type: ignore[call-overload]
        )


def to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    """A naive wall-clock time in `zone` as an aware UTC instant (gap: moved forward; overlap: first)."""
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)


def to_local(instant: datetime, zone: ZoneInfo) -> datetime:
    """An aware instant as naive wall-clock time in `zone`."""
    return instant.astimezone(zone).replace(tzinfo=None)


def _weekdays(rule: Rule, start: datetime) -> tuple[int, ...]:
    return rule.weekdays or (start.weekday(),)


def _month_date(year: int, month: int, day: int) -> date:
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def _matches(rule: Rule, start: datetime, d: date) -> bool:
    if rule.freq == "daily":
        return (d - start.date()).days % rule.interval == 0
    if rule.freq == "weekly":
        week0 = start.date() - timedelta(days=start.weekday())
        weeks = (d - week0).days // 7
        return weeks % rule.interval == 0 and d.weekday() in _weekdays(rule, start)
    months = (d.year - start.year) * 12 + d.month - start.month
    return months % rule.interval == 0 and d == _month_date(d.year, d.month, rule.day or start.day)


def _next_date(rule: Rule, start: datetime, after: date) -> date:
    if rule.freq == "daily":
        return after + timedelta(days=rule.interval)
    if rule.freq == "weekly":
        d = after
        for _ in range(_MAX_WEEKLY_SCAN * rule.interval):
            d += timedelta(days=1)
            if _matches(rule, start, d):
                return d
        raise ValueError("no weekly occurrence found")  # unreachable with a non-empty weekday set
    months = (after.year - start.year) * 12 + after.month - start.month
    k = -(-months // rule.interval) * rule.interval  # the first month of the series not before `after`'s
    day = rule.day or start.day
    while True:
        y, m = divmod(start.year * 12 + start.month - 1 + k, 12)
        candidate = _month_date(y, m + 1, day)
        if candidate > after:
            return candidate
        k += rule.interval


def first(rule: Rule | None, start: datetime) -> datetime:
    """The first occurrence: the entered local time itself, or the next date the rule allows."""
    if rule is None or _matches(rule, start, start.date()):
        return start
    return datetime.combine(_next_date(rule, start, start.date()), start.time())


def following(rule: Rule, start: datetime, current: datetime, done: int) -> datetime | None:
    """The occurrence after `current` (local, naive) once `done` occurrences went out, or None when the
    series is over (count reached or past `until`)."""
    if rule.count is not None and done >= rule.count:
        return None
    nxt = datetime.combine(_next_date(rule, start, current.date()), start.time())
    if rule.until is not None and nxt.date() > rule.until:
        return None
    return nxt

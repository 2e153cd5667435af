"""Business hours and days of a campaign, in its time zone: {"mon": ["09:00", "18:00"], "sat": ["09:00",
"13:00"]}; days not listed are quiet days; an empty window means any time."""

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from app.errors import Invalid

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_LABELS = {
    "mon": "seg",
    "tue": "ter",
    "wed": "qua",
    "thu": "qui",
    "fri": "sex",
    "sat": "sáb",
    "sun": "dom",
}


def _hm(value: Any, field: str) -> time:
    try:
        hours, minutes = str(value).split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise Invalid(field, "Horário inválido: use HH:MM.") from None


def parse(window: dict[str, Any]) -> dict[int, tuple[time, time]]:
    """Validated {weekday: (start, end)}; Invalid names the bad field (janela.sat)."""
    parsed: dict[int, tuple[time, time]] = {}
    for day, span in window.items():
        field = f"janela.{day}"
        if day not in DAYS:
            raise Invalid(field, "Dia inválido: use mon, tue, wed, thu, fri, sat ou sun.")
        if not isinstance(span, list | tuple) or len(span) != 2:
            raise Invalid(field, 'Informe início e fim, por exemplo ["09:00", "18:00"].')
        start, end = _hm(span[0], field), _hm(span[1], field)
        if end <= start:
            raise Invalid(field, "O fim deve ser depois do início.")
        parsed[DAYS.index(day)] = (start, end)
    return parsed


def next_open(window: dict[str, Any], tz: str, now: datetime) -> datetime:
    """`now` when sending is allowed now, else the next moment it is (in UTC-aware form)."""
    spans = parse(window)
    if not spans:
        return now
    zone = ZoneInfo(tz)
    local = now.astimezone(zone)
    for offset in range(8):
        day = (local + timedelta(days=offset)).date()
        span = spans.get(day.weekday())
        if span is None:
            continue
        start = datetime.combine(day, span[0], zone)
        end = datetime.combine(day, span[1], zone)
        if offset == 0 and start <= local < end:
            return now
        if local < start:
            return start
    raise Invalid(
        "janela", "A janela de envio não tem nenhum horário."
    )  # unreachable with a non-empty window


def close_of(window: dict[str, Any], tz: str, now: datetime) -> datetime | None:
    """When the window open at `now` closes (None: no window, or closed now)."""
    spans = parse(window)
    if not spans:
        return None
    local = now.astimezone(ZoneInfo(tz))
    span = spans.get(local.weekday())
    if span is None:
        return None
    end = datetime.combine(local.date(), span[1], ZoneInfo(tz))
    start = datetime.combine(local.date(), span[0], ZoneInfo(tz))
    return end if start <= local < end else None

"""Dates as users give them (`2026-03-31`, or an ISO date-time) and as the rules compare them (aware, UTC).

A bare date means the whole day in UTC: as a start (an authorisation granted on it) its first instant, as an
end (an authorisation expiring on it, a watch running until it) the first instant of the next day, so the day
itself is included."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from .errors import Invalid


def utc(value: datetime) -> datetime:
    """An aware UTC time (a stored time without a zone is UTC)."""
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def parse_when(value: str | date | datetime, name: str, *, end: bool = False) -> datetime:
    """A date or ISO date-time given by a user, as an aware UTC time (see the module's docstring)."""
    if isinstance(value, datetime):
        return utc(value)
    if isinstance(value, date):
        day = value
    else:
        text = str(value).strip()
        try:
            if len(text) == 10:
                day = date.fromisoformat(text)
            else:
                return utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
        except ValueError as exc:
            raise Invalid(f"{name} is not a date (YYYY-MM-DD) or ISO date-time: {text!r}", field=name) from exc
    start = datetime.combine(day, time(), timezone.utc)
    return start + timedelta(days=1) if end else start


def iso(value: datetime | None) -> str | None:
    return None if value is None else utc(value).isoformat()

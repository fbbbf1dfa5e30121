"""Local days of the entity's time zone, as the Banklot API wants them.

Rules:
- A "day" is a calendar day in the entity's `time_zone` (get-data), never the machine's zone: a
  kiosk's Pi may run in UTC while the agency sells in America/Caracas.
- The API takes a day as a UTC range with milliseconds, inclusive at both ends:
  2024-10-23 in Caracas (UTC-4) -> ("2024-10-23T04:00:00.000Z", "2024-10-24T03:59:59.999Z").
- A day starts at the first instant whose local date is that day, so days around a DST change
  are 23 or 25 hours long; zoneinfo's fold/gap rules give exactly that.
- Pure functions of their arguments: `now` is passed in, nothing reads a clock.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ISO_MS = "%Y-%m-%dT%H:%M:%S"
# The zone a kiosk assumes until get-data names the entity's own (the one place it is written).
DEFAULT_TIME_ZONE = "America/Caracas"


@lru_cache(maxsize=32)
def zone(tz: str) -> ZoneInfo:
    """The ZoneInfo for a name; ValueError (naming it) if unknown."""
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {tz!r}") from exc


def _fmt(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return f"{moment.strftime(ISO_MS)}.{moment.microsecond // 1000:03d}Z"


def utc_iso(unix: float) -> str:
    """Unix seconds -> the API's `YYYY-MM-DDTHH:MM:SS.mmmZ` (milliseconds truncated)."""
    ms = math.floor(round(unix * 1000, 3))  # round first: 0.999 must not become 0.998
    return _fmt(datetime.fromtimestamp(ms // 1000, UTC) + timedelta(milliseconds=ms % 1000))


def local_day_bounds(day: date, tz: str) -> tuple[float, float]:
    """(start, end) unix seconds of a local day; `end` is exclusive (the next day's start)."""
    z = zone(tz)
    start = datetime.combine(day, time(0), z)
    end = datetime.combine(day + timedelta(days=1), time(0), z)
    return start.timestamp(), end.timestamp()


def local_day_range(day: date, tz: str) -> tuple[str, str]:
    """The API's inclusive UTC range for a local day (end is the last millisecond)."""
    z = zone(tz)
    start = datetime.combine(day, time(0), z)
    end = datetime.combine(day + timedelta(days=1), time(0), z)
    # Subtract in UTC: aware-datetime arithmetic in a zone is wall-clock arithmetic.
    return _fmt(start), _fmt(end.astimezone(UTC) - timedelta(milliseconds=1))


def range_of_days(first: date, last: date, tz: str) -> tuple[str, str]:
    """The API's inclusive UTC range from the start of `first` to the end of `last`."""
    if last < first:
        raise ValueError("range_of_days: last is before first")
    return local_day_range(first, tz)[0], local_day_range(last, tz)[1]


def local_date(unix: float, tz: str) -> date:
    """The local calendar date of an instant in zone `tz`."""
    return datetime.fromtimestamp(unix, zone(tz)).date()


def recent_days(now_unix: float, tz: str, n: int) -> list[date]:
    """The last `n` local days, newest (today) first: where to look up a ticket typed w/o date."""
    if n < 1:
        raise ValueError("recent_days: n must be >= 1")
    today = local_date(now_unix, tz)
    return [today - timedelta(days=i) for i in range(n)]

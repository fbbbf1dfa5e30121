"""Local days of the entity's zone, never the machine's."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from kioskd.banklot import days


def test_caracas_day_matches_the_seed() -> None:
    assert days.local_day_range(date(2024, 10, 23), "America/Caracas") == (
        "2024-10-23T04:00:00.000Z",
        "2024-10-24T03:59:59.999Z",
    )


def test_range_of_days_matches_the_seed_examples() -> None:
    assert days.range_of_days(date(2024, 6, 5), date(2024, 10, 22), "America/Caracas") == (
        "2024-06-05T04:00:00.000Z",
        "2024-10-23T03:59:59.999Z",
    )
    with pytest.raises(ValueError):
        days.range_of_days(date(2024, 6, 5), date(2024, 6, 4), "America/Caracas")


def test_dst_days_are_23_and_25_hours() -> None:
    # Santiago springs forward at local midnight (2024-09-08) and falls back at 2024-04-07 00:00.
    short = days.local_day_bounds(date(2024, 9, 8), "America/Santiago")
    long = days.local_day_bounds(date(2024, 4, 6), "America/Santiago")
    assert short[1] - short[0] == 23 * 3600
    assert long[1] - long[0] == 25 * 3600
    assert days.local_day_range(date(2024, 9, 8), "America/Santiago") == (
        "2024-09-08T04:00:00.000Z",
        "2024-09-09T02:59:59.999Z",
    )


def test_local_date_uses_entity_zone() -> None:
    # 2024-10-23T02:00Z is still the 22nd in Caracas, already the 23rd in UTC.
    unix = 1729648800
    assert days.local_date(unix, "America/Caracas") == date(2024, 10, 22)
    assert days.local_date(unix, "UTC") == date(2024, 10, 23)


def test_recent_days_newest_first() -> None:
    assert days.recent_days(1729648800, "America/Caracas", 3) == [
        date(2024, 10, 22),
        date(2024, 10, 21),
        date(2024, 10, 20),
    ]
    with pytest.raises(ValueError):
        days.recent_days(0, "UTC", 0)


def test_unknown_zone() -> None:
    with pytest.raises(ValueError, match="Nowhere/Land"):
        days.local_day_range(date(2024, 1, 1), "Nowhere/Land")


def test_iso_round_trip() -> None:
    assert days.utc_iso(1729655999.999) == "2024-10-23T03:59:59.999Z"
    back = datetime.fromisoformat(days.utc_iso(1729655999.999).replace("Z", "+00:00"))
    assert back.timestamp() == pytest.approx(1729655999.999)

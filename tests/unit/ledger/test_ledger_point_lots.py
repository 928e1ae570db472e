"""program/point_lots: points by credit day, spent and expired oldest first (R3)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from loyalty_bridge.program.point_lots import PointLots, add_months


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2025, 1, 15), 1, date(2025, 2, 15)),
        (date(2025, 1, 31), 1, date(2025, 2, 28)),
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2025, 11, 30), 3, date(2026, 2, 28)),
        (date(2025, 6, 1), 12, date(2026, 6, 1)),
        (date(2025, 12, 31), 24, date(2027, 12, 31)),
    ],
)
def test_add_months_keeps_the_day_or_the_months_last(day: date, months: int, expected: date) -> None:
    assert add_months(day, months) == expected


def lots() -> PointLots:
    made = PointLots()
    made.credit(datetime(2025, 1, 10, 23, tzinfo=UTC), 100)
    made.credit(date(2025, 1, 20), 50)
    made.credit(datetime(2025, 1, 10, 8, tzinfo=UTC), 10)  # same day: one lot
    return made


def test_credits_are_kept_by_day_and_survive_json() -> None:
    made = lots()
    assert made.as_dict() == {"2025-01-10": 110, "2025-01-20": 50}
    assert PointLots.from_json(made.to_json()) == made
    assert PointLots.from_json(None).total == 0


def test_spending_takes_untracked_points_then_the_oldest_lots() -> None:
    made = lots()
    made.spend(40, balance=200)  # 40 untracked points (200 - 160) go first
    assert made.as_dict() == {"2025-01-10": 110, "2025-01-20": 50}
    made.spend(120, balance=160)
    assert made.as_dict() == {"2025-01-20": 40}


def test_expiry_takes_due_lots_oldest_first_but_only_what_is_available() -> None:
    made = lots()
    assert made.expire(date(2025, 2, 9), 1, available=160) == 0
    assert made.expire(datetime(2025, 2, 10, tzinfo=UTC), 1, available=30) == 30  # the rest is held
    assert made.as_dict() == {"2025-01-10": 80, "2025-01-20": 50}
    assert made.expire(date(2025, 2, 10), 1, available=500) == 80
    assert made.expire(date(2025, 3, 1), None, available=500) == 0  # expiry off
    assert made.as_dict() == {"2025-01-20": 50}


def test_next_expiry_is_the_first_day_after_today_with_its_points() -> None:
    made = lots()
    made.credit(date(2025, 1, 31), 5)
    made.credit(date(2025, 1, 29), 7)  # 29th and 31st of January both expire on 28 February
    assert made.next_expiry(date(2025, 1, 25), 1) == (110, date(2025, 2, 10))
    assert made.next_expiry(date(2025, 2, 10), 1) == (50, date(2025, 2, 20))
    assert made.next_expiry(date(2025, 2, 21), 1) == (12, date(2025, 2, 28))
    assert made.next_expiry(date(2025, 2, 28), 1) == (0, None)
    assert made.next_expiry(date(2025, 1, 25), None) == (0, None)
    assert made.first_expiry(1) == date(2025, 2, 10)


def test_absorb_moves_every_lot() -> None:
    primary, other = lots(), PointLots({"2025-01-10": 5, "2025-03-01": 9})
    primary.absorb(other)
    assert primary.as_dict() == {"2025-01-10": 115, "2025-01-20": 50, "2025-03-01": 9}
    assert other.total == 0

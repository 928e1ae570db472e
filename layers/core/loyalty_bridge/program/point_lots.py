"""Points by the day they were credited, so they can expire oldest first (R3).

Pure arithmetic shared by the built-in ledger and the in-memory platform (like
earn_rules), so both expire, spend and report the same points.

A member's balance (available + held) is split into lots keyed by the UTC day the points
were credited. Points the lots do not cover ("untracked": balances from before lots were
kept) count as the oldest and never expire. Every debit of the balance (a captured hold, a
reward, a refund taking points back) spends the oldest points first. With
``expiry_months`` set, the points of a lot expire at the start of the day ``expiry_months``
after it was credited, but only as far as they are available: held points are reserved
for a checkout and are spent from the oldest lots when it completes; if the hold is
released instead, they expire at the next settlement.
"""

from __future__ import annotations

import calendar
import json
from collections.abc import Iterable, Mapping
from datetime import date, datetime


def add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months (the 31st becomes the month's last day)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _day(moment: datetime | date) -> date:
    return moment.date() if isinstance(moment, datetime) else moment


class PointLots:
    """Points of a balance by credit day. Mutable; callers keep ``total <= balance``."""

    def __init__(self, days: Mapping[str, int] | None = None) -> None:
        self._days: dict[date, int] = {}
        for key, points in (days or {}).items():
            if points > 0:
                self._days[date.fromisoformat(key)] = int(points)

    # ---------------------------------------------------------------- (de)serialising

    @classmethod
    def from_json(cls, text: str | None) -> PointLots:
        return cls(json.loads(text) if text else {})

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), separators=(",", ":"), sort_keys=True)

    def as_dict(self) -> dict[str, int]:
        return {day.isoformat(): points for day, points in sorted(self._days.items()) if points > 0}

    def copy(self) -> PointLots:
        return PointLots(self.as_dict())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PointLots) and self.as_dict() == other.as_dict()

    def __repr__(self) -> str:
        return f"PointLots({self.as_dict()})"

    @property
    def total(self) -> int:
        return sum(self._days.values())

    # ---------------------------------------------------------------- moving points

    def credit(self, when: datetime | date, points: int) -> None:
        if points > 0:
            day = _day(when)
            self._days[day] = self._days.get(day, 0) + points

    def spend(self, points: int, balance: int) -> None:
        """Take ``points`` off a balance of ``balance`` (before the debit): untracked
        points first, then the oldest lots."""
        untracked = max(balance - self.total, 0)
        self._take(sorted(self._days), max(points - untracked, 0))

    def absorb(self, other: PointLots) -> None:
        """A8: another member's points (and their ages) move here."""
        for day, points in other._days.items():
            self.credit(day, points)
        other._days.clear()

    def _take(self, days: Iterable[date], points: int) -> int:
        taken = 0
        for day in days:
            if taken >= points:
                break
            share = min(self._days[day], points - taken)
            self._days[day] -= share
            taken += share
            if not self._days[day]:
                del self._days[day]
        return taken

    # ---------------------------------------------------------------- expiry

    def expire(self, now: datetime | date, months: int | None, available: int) -> int:
        """Expire the lots due by ``now`` (oldest first), at most ``available`` points
        (held points wait for their hold). Returns the points expired."""
        if months is None or available <= 0:
            return 0
        today = _day(now)
        due = [day for day in sorted(self._days) if add_months(day, months) <= today]
        return self._take(due, min(sum(self._days[day] for day in due), available))

    def next_expiry(self, now: datetime | date, months: int | None) -> tuple[int, date | None]:
        """The next day points expire after ``now`` and how many."""
        if months is None:
            return 0, None
        today = _day(now)
        upcoming: dict[date, int] = {}
        for day, points in self._days.items():
            on = add_months(day, months)
            if on > today:
                upcoming[on] = upcoming.get(on, 0) + points
        if not upcoming:
            return 0, None
        first = min(upcoming)
        return upcoming[first], first

    def first_expiry(self, months: int | None) -> date | None:
        """When the oldest lot expires (or expired), for the expiry sweeper's index."""
        if months is None or not self._days:
            return None
        return add_months(min(self._days), months)

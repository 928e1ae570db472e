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

Lots brought over from another program (a member import) keep the expiry date that
program gave them ("dated" lots, stored as ``until:{day}``): they expire on that day
whatever ``expiry_months`` says, and count as older than any point credited here (spent
first, after the untracked points).
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


UNTIL = "until:"


def _day(moment: datetime | date) -> date:
    return moment.date() if isinstance(moment, datetime) else moment


class PointLots:
    """Points of a balance by credit day. Mutable; callers keep ``total <= balance``."""

    def __init__(self, days: Mapping[str, int] | None = None) -> None:
        self._days: dict[date, int] = {}
        self._until: dict[date, int] = {}  # dated lots: expiry day -> points (imported)
        for key, points in (days or {}).items():
            if points > 0:
                if key.startswith(UNTIL):
                    self._until[date.fromisoformat(key.removeprefix(UNTIL))] = int(points)
                else:
                    self._days[date.fromisoformat(key)] = int(points)

    # ---------------------------------------------------------------- (de)serialising

    @classmethod
    def from_json(cls, text: str | None) -> PointLots:
        return cls(json.loads(text) if text else {})

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), separators=(",", ":"), sort_keys=True)

    def as_dict(self) -> dict[str, int]:
        credited = {day.isoformat(): points for day, points in sorted(self._days.items()) if points > 0}
        dated = {UNTIL + day.isoformat(): points for day, points in sorted(self._until.items()) if points > 0}
        return credited | dated

    def copy(self) -> PointLots:
        return PointLots(self.as_dict())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PointLots) and self.as_dict() == other.as_dict()

    def __repr__(self) -> str:
        return f"PointLots({self.as_dict()})"

    @property
    def total(self) -> int:
        return sum(self._days.values()) + sum(self._until.values())

    @property
    def dated(self) -> dict[date, int]:
        """Imported lots by the day they expire."""
        return {day: points for day, points in sorted(self._until.items()) if points > 0}

    # ---------------------------------------------------------------- moving points

    def credit(self, when: datetime | date, points: int) -> None:
        if points > 0:
            day = _day(when)
            self._days[day] = self._days.get(day, 0) + points

    def credit_until(self, expires_on: date, points: int) -> None:
        """Points brought over from another program that expire on ``expires_on``."""
        if points > 0:
            self._until[expires_on] = self._until.get(expires_on, 0) + points

    def spend(self, points: int, balance: int) -> None:
        """Take ``points`` off a balance of ``balance`` (before the debit): untracked
        points first, then dated lots (soonest expiry first), then the oldest lots."""
        untracked = max(balance - self.total, 0)
        wanted = max(points - untracked, 0)
        wanted -= self._take(sorted(self._until), wanted, self._until)
        self._take(sorted(self._days), wanted)

    def absorb(self, other: PointLots) -> None:
        """A8: another member's points (and their ages) move here."""
        for day, points in other._days.items():
            self.credit(day, points)
        for day, points in other._until.items():
            self.credit_until(day, points)
        other._days.clear()
        other._until.clear()

    def _take(self, days: Iterable[date], points: int, lots: dict[date, int] | None = None) -> int:
        lots = self._days if lots is None else lots
        taken = 0
        for day in days:
            if taken >= points:
                break
            share = min(lots[day], points - taken)
            lots[day] -= share
            taken += share
            if not lots[day]:
                del lots[day]
        return taken

    # ---------------------------------------------------------------- expiry

    def expire(self, now: datetime | date, months: int | None, available: int) -> int:
        """Expire the lots due by ``now`` (oldest first), at most ``available`` points
        (held points wait for their hold). Returns the points expired."""
        if available <= 0:
            return 0
        today = _day(now)
        dated = [day for day in sorted(self._until) if day <= today]
        taken = self._take(dated, min(sum(self._until[day] for day in dated), available), self._until)
        if months is None:
            return taken
        due = [day for day in sorted(self._days) if add_months(day, months) <= today]
        return taken + self._take(due, min(sum(self._days[day] for day in due), available - taken))

    def next_expiry(self, now: datetime | date, months: int | None) -> tuple[int, date | None]:
        """The next day points expire after ``now`` and how many."""
        today = _day(now)
        upcoming: dict[date, int] = {day: points for day, points in self._until.items() if day > today}
        for day, points in self._days.items() if months is not None else ():
            on = add_months(day, months or 0)
            if on > today:
                upcoming[on] = upcoming.get(on, 0) + points
        if not upcoming:
            return 0, None
        first = min(upcoming)
        return upcoming[first], first

    def first_expiry(self, months: int | None) -> date | None:
        """When the oldest lot expires (or expired), for the expiry sweeper's index."""
        firsts = [min(self._until)] if self._until else []
        if months is not None and self._days:
            firsts.append(add_months(min(self._days), months))
        return min(firsts) if firsts else None

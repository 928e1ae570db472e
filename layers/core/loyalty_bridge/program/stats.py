"""Daily statistics (R6), the program's side: what one ledger entry adds to its day's
counters, program-wide and at its store. The built-in ledger writes these increments with
the entries, in the same transaction (adapters/ledger/stats.py), so a day's counters are
always the sum of that day's entries; the test platform sums the same increments.

Counter names are ``models.activity.StatsDay``'s fields. ``opening`` is kept for migrated
opening balances (a later issue): they must never count as earned points.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date

from loyalty_bridge.errors import InvalidInput
from loyalty_bridge.models.activity import MAX_STATS_DAYS, StatsDay

COUNTERS = tuple(name for name in StatsDay.model_fields if name != "day")


def entry_counts(kind: str, points_in: int, points_out: int) -> dict[str, int]:
    """What a ledger entry of ``kind`` (program.account.Entry.kind) adds to its day."""
    match kind:
        case "order":
            return {"orders": 1, "points_earned": points_in, "points_redeemed": points_out}
        case "reversal":
            return {"points_reversed": points_out, "points_returned": points_in}
        case "reward":
            return {"points_redeemed": points_out}
        case "adjust":
            return {"adjustments": 1, "points_adjusted": points_in - points_out}
        case "expire":
            return {"points_expired": points_out}
        case "referral":
            return {"referral_bonus": points_in}
        case "opening":
            return {"opening": points_in - points_out}
    return {}  # maturing, merges, card replacements move points without changing the program's


def add_counts(total: dict[str, int], more: Mapping[str, int]) -> dict[str, int]:
    for name, value in more.items():
        if value:
            total[name] = total.get(name, 0) + value
    return total


def total_day(days: Iterable[StatsDay], start: date) -> StatsDay:
    """The sum of ``days`` (dated ``start``, the range's first day)."""
    found: dict[str, int] = {}
    for day in days:
        add_counts(found, {name: getattr(day, name) for name in COUNTERS})
    return StatsDay(day=start, **found)


def check_range(start: date, end: date) -> None:
    """A stats read covers ``start``..``end`` (both included), at most MAX_STATS_DAYS days."""
    if end < start:
        raise InvalidInput(
            "'to' is before 'from'.", code="invalid_range", errors=[{"field": "to", "message": "before from"}]
        )
    if (end - start).days + 1 > MAX_STATS_DAYS:
        raise InvalidInput(
            f"At most {MAX_STATS_DAYS} days a request.",
            code="invalid_range",
            errors=[{"field": "to", "message": f"more than {MAX_STATS_DAYS} days after from"}],
        )

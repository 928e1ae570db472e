"""The adjustments (R7), history (R8) and daily statistics (R6) of InMemoryPlatform
(tests/fake_platform.py). The rules are program/'s (adjustments, history, stats), as in the
built-in ledger; what is here is bookkeeping over the platform's ledger dict and the time
each entry was written (``entry_times``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from loyalty_bridge.models.activity import (
    MAX_ACTIVITY_PAGE,
    ActivityPage,
    Adjustment,
    AdjustmentResult,
    StatsDay,
    StatsReport,
)
from loyalty_bridge.program import adjustments as adjustment_rules
from loyalty_bridge.program import history
from loyalty_bridge.program import stats as stat_rules
from loyalty_bridge.program.account import Entry
from loyalty_bridge.program.orders import OrderRecord
from tests.fake_members import MemberAccount, _port


def _sort_key(at: datetime, entry_id: str) -> str:
    return f"{at.isoformat(timespec='microseconds')}#{entry_id}"


class FakeActivity:
    """Mixed into InMemoryPlatform, which holds the ledger and commits accounts."""

    ledger: dict[str, Entry]
    entry_times: dict[str, datetime]
    orders: dict[str, OrderRecord]
    accounts: dict[str, MemberAccount]
    clock: Callable[[], datetime]
    _load: Callable[[str], MemberAccount]
    _owner: Callable[[str], MemberAccount]
    _commit: Callable[..., None]

    @_port
    def adjust(self, member_id: str, adjustment: Adjustment) -> AdjustmentResult:
        first = self.ledger.get(adjustment_rules.adjustment_entry_id(adjustment.adjustment_id))
        if first is not None:
            return adjustment_rules.replayed(first.member_id, self._owner(member_id).member_id, first.result)
        acc = self._load(member_id)
        result, entry = adjustment_rules.adjust(acc, adjustment, self.clock())
        self._commit(acc, entry)
        return result

    @_port
    def activity(self, member_id: str, *, limit: int = 20, cursor: str | None = None) -> ActivityPage:
        limit = max(1, min(limit, MAX_ACTIVITY_PAGE))
        after = history.decode_cursor(cursor) if cursor else None
        owner = self._owner(member_id).member_id
        shown = sorted(
            (
                (_sort_key(self.entry_times[e.entry_id], e.entry_id), e)
                for e in self.ledger.values()
                if e.member_id == owner and e.activity is not None
            ),
            key=lambda pair: pair[0],
            reverse=True,
        )
        if after is not None:
            shown = [pair for pair in shown if pair[0] < after]
        page = shown[:limit]
        entries = [
            history.activity_entry(
                entry_id=e.entry_id,
                at=self.entry_times[e.entry_id],
                kind=e.activity,
                points_in=e.points_in,
                points_out=e.points_out,
                balance_after=e.balance_after,
                refs={name: getattr(e, name) for name in history.REF_FIELDS},
            )
            for _, e in page
            if e.activity is not None
        ]
        more = len(shown) > limit
        return ActivityPage(entries=entries, next_cursor=history.encode_cursor(page[-1][0]) if more else None)

    @_port
    def stats(self, store_id: str | None, start: date, end: date) -> StatsReport:
        stat_rules.check_range(start, end)
        found: dict[date, dict[str, int]] = {}
        for entry in self.ledger.values():
            day = self.entry_times[entry.entry_id].date()
            if start <= day <= end and (store_id is None or entry.store_id == store_id):
                counts = stat_rules.entry_counts(entry.kind, entry.points_in, entry.points_out)
                stat_rules.add_counts(found.setdefault(day, {}), counts)
        if store_id is None:
            for acc in self.accounts.values():
                if acc.joined_at is not None and start <= acc.joined_at.date() <= end:
                    stat_rules.add_counts(found.setdefault(acc.joined_at.date(), {}), {"new_members": 1})
        days = [StatsDay(day=day, **found[day]) for day in sorted(found) if found[day]]
        return StatsReport(
            store_id=store_id, start=start, end=end, days=days, totals=stat_rules.total_day(days, start)
        )

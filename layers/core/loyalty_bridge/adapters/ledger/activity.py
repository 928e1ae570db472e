"""Adjustments (R7), the history (R8) and the daily statistics (R6) of the built-in ledger.

An adjustment is one transaction like every change of points: its entry (keyed by the
adjustment id), the account, and the day's counters. The history is a Query on the
member's entries (gsi1 ``ENTRIES#{member}``, sorted by ``{at}#{entry_id}``), newest first,
skipping entries that show nothing (a pending lot maturing); the cursor is the sort key of
the last entry answered. Stats are one Query per counter shard over the days (stats.py).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from loyalty_bridge.adapters.ledger.accounts import LedgerAccounts
from loyalty_bridge.adapters.ledger.stats import day_counts, read_queries, stats_days
from loyalty_bridge.adapters.ledger.table import Item, Labelled, parse_time
from loyalty_bridge.models.activity import (
    MAX_ACTIVITY_PAGE,
    ActivityEntry,
    ActivityPage,
    Adjustment,
    AdjustmentResult,
    StatsReport,
)
from loyalty_bridge.models.domain import ActivityKind
from loyalty_bridge.program import adjustments as adjustment_rules
from loyalty_bridge.program import history
from loyalty_bridge.program import stats as stat_rules


def _shown(item: Item) -> ActivityEntry:
    return history.activity_entry(
        entry_id=str(item["entry_id"]),
        at=parse_time(str(item["at"])),
        kind=ActivityKind(str(item["activity"])),
        points_in=int(item.get("points_in", 0)),
        points_out=int(item.get("points_out", 0)),
        balance_after=int(item.get("balance_after", 0)),
        refs=item,
    )


class LedgerActivity(LedgerAccounts):
    def adjust(self, member_id: str, adjustment: Adjustment) -> AdjustmentResult:
        entry_id = adjustment_rules.adjustment_entry_id(adjustment.adjustment_id)

        def attempt() -> AdjustmentResult:
            first = self._get(f"ENTRY#{entry_id}", "ENTRY")
            if first is not None:
                owner = self._owner_id(member_id)
                return adjustment_rules.replayed(str(first["member_id"]), owner, str(first["result"]))
            acc, now = self._owner_now(member_id)
            result, entry = adjustment_rules.adjust(acc, adjustment, now)
            items: Labelled = [("entry", self._entry(entry, now)), *self._account_items(acc, now)]
            self._transact_or_retry(items)  # a twin adjustment or a concurrent change: re-read
            return result

        return self._retrying(attempt)

    def activity(self, member_id: str, *, limit: int = 20, cursor: str | None = None) -> ActivityPage:
        limit = max(1, min(limit, MAX_ACTIVITY_PAGE))
        after = history.decode_cursor(cursor) if cursor else None
        owner = self._owner_id(member_id)
        index_pk = f"ENTRIES#{owner}"
        args: dict[str, Any] = {
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": index_pk}},
            "FilterExpression": "attribute_exists(activity)",
            "ScanIndexForward": False,
            "Limit": limit + 1,
        }
        if after is not None:
            entry_id = after.split("#", 1)[1]
            args["ExclusiveStartKey"] = {
                "pk": {"S": f"ENTRY#{entry_id}"},
                "sk": {"S": "ENTRY"},
                "gsi1pk": {"S": index_pk},
                "gsi1sk": {"S": after},
            }
        found: list[Item] = []
        for item in self._query(**args):
            found.append(item)
            if len(found) > limit:
                break
        page, more = found[:limit], len(found) > limit
        return ActivityPage(
            entries=[_shown(item) for item in page],
            next_cursor=history.encode_cursor(str(page[-1]["gsi1sk"])) if more else None,
        )

    def stats(self, store_id: str | None, start: date, end: date) -> StatsReport:
        stat_rules.check_range(start, end)
        found: dict[date, dict[str, int]] = {}
        for _, query in read_queries(store_id, start, end):
            for item in self._query(**query):
                day, counts = day_counts(item, store_id)
                stat_rules.add_counts(found.setdefault(day, {}), counts)
        days = stats_days(found)
        return StatsReport(
            store_id=store_id, start=start, end=end, days=days, totals=stat_rules.total_day(days, start)
        )

"""The customer's history (R8): ``GET /v1/customers/{customer_id}/loyalty/activity``, every
movement of their points newest first with a sentence each (program/history.py), paged
with the platform's opaque cursor (422 ``invalid_cursor`` for one it never answered).
A platform that keeps no history answers ``available: false``.

And the daily statistics (R6): ``GET /v1/admin/stats`` and
``GET /v1/admin/stores/{store_id}/stats``, read from the platform's counters (at most 366
days, 422 ``invalid_range``).
"""

from __future__ import annotations

from datetime import date

from loyalty_bridge.models.activity import ActivityPage, StatsReport
from loyalty_bridge.observability import logger
from loyalty_bridge.ports import CustomerRepository, LoyaltyPlatform
from loyalty_bridge.privacy import pseudonym
from loyalty_bridge.program.stats import check_range
from loyalty_bridge.services.adjustments import joined_member


class HistoryService:
    def __init__(self, customers: CustomerRepository, platform: LoyaltyPlatform) -> None:
        self._customers = customers
        self._platform = platform

    def activity(self, customer_id: str, *, limit: int, cursor: str | None) -> ActivityPage:
        member_id = joined_member(self._customers, customer_id)
        page = self._platform.activity(member_id, limit=limit, cursor=cursor)
        logger.info(
            "loyalty history read",
            extra={
                "customer": pseudonym(customer_id),
                "entries": len(page.entries),
                "more": bool(page.next_cursor),
            },
        )
        return page


class StatsService:
    def __init__(self, platform: LoyaltyPlatform) -> None:
        self._platform = platform

    def stats(self, store_id: str | None, start: date, end: date) -> StatsReport:
        check_range(start, end)
        return self._platform.stats(store_id, start, end)

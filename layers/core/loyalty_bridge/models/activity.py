"""Adjustments (R7), the history of a member's points (R8) and the daily statistics (R6) as
the platform port takes and answers them (ports.LoyaltyPlatform.adjust, activity, stats).

The kinds of the history are ``domain.ActivityKind``. The sentence each entry shows is
written by ``program.history.describe`` from the entry's fields, the same for every
platform.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from loyalty_bridge.models.api_types import Trim
from loyalty_bridge.models.domain import ActivityKind

# The shape of the other business ids the bridge takes (order, store, staff ids).
BusinessId = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$")
]
# A reason for the record: 1 to 200 characters as sent, not only spaces; stored stripped.
Reason = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"\S"), Trim]
MAX_ADJUSTMENT_POINTS = 1_000_000  # one adjustment; a typo of three zeros is refused
MAX_STATS_DAYS = 366  # one stats read covers at most a year of days
MAX_ACTIVITY_PAGE = 100


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class Adjustment(Frozen):
    """Staff credit (+) or debit (-) points with a reason (R7), once per ``adjustment_id``."""

    adjustment_id: BusinessId
    # "not 0" in the schema is what _not_zero checks.
    points: int = Field(
        ge=-MAX_ADJUSTMENT_POINTS, le=MAX_ADJUSTMENT_POINTS, json_schema_extra={"not": {"const": 0}}
    )
    reason: Reason
    staff_id: BusinessId | None = None
    store_id: BusinessId | None = None

    @field_validator("points")
    @classmethod
    def _not_zero(cls, points: int) -> int:
        if points == 0:
            raise ValueError("points must be a non-zero number: + credits, - debits")
        return points


class AdjustmentResult(Frozen):
    adjustment_id: str
    points: int = Field(description="the change: positive credited, negative debited")
    balance: int = Field(ge=0, description="the member's balance after it")


class ActivityEntry(Frozen):
    """One movement of a member's points, as the storefront shows it (R8)."""

    entry_id: str
    at: datetime
    kind: ActivityKind
    points: int = Field(description="the change of the member's points: points_in - points_out")
    points_in: int = Field(
        ge=0, description="points it brought in (earned, pending included; returned; credited)"
    )
    points_out: int = Field(ge=0, description="points it took out (redeemed, taken back, expired, debited)")
    balance_after: int = Field(ge=0, description="the balance (available + held) right after it")
    order_id: str | None = None
    refund_id: str | None = None
    redemption_id: str | None = None
    reward_id: str | None = None
    store_id: str | None = None
    staff_id: str | None = None
    description: str = Field(description='a sentence to show as it is, e.g. "Order o-1: 39 points earned"')


class ActivityPage(Frozen):
    """A page of the history, newest first; ``available`` false where the platform keeps none."""

    entries: list[ActivityEntry] = Field(default_factory=list)
    next_cursor: str | None = Field(default=None, description="pass as ?cursor= for the next page")
    available: bool = True


class StatsDay(Frozen):
    """One UTC day of the program's (or one store's) movements (R6), counted as they are written."""

    day: date
    orders: int = 0
    points_earned: int = 0
    points_redeemed: int = Field(default=0, description="spent on orders (C2) and on rewards (R4)")
    points_reversed: int = Field(default=0, description="taken back by refunds and cancels (C5)")
    points_returned: int = Field(default=0, description="given back by cancels of orders that redeemed")
    points_adjusted: int = Field(default=0, description="the net of staff adjustments (R7)")
    adjustments: int = 0
    points_expired: int = 0
    referral_bonus: int = 0
    new_members: int = Field(default=0, description="program-wide only: a member joins no store")
    opening: int = Field(default=0, description="opening balances migrated in (kept apart)")


class StatsReport(Frozen):
    store_id: str | None = None
    start: date = Field(description="the first day (?from=)")
    end: date = Field(description="the last day (?to=), included")
    days: list[StatsDay] = Field(default_factory=list, description="the days with any movement, oldest first")
    totals: StatsDay | None = Field(default=None, description="the sum over the range (day: its first)")
    available: bool = True

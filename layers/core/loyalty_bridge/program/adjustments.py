"""Adjustments (R7, seed 001): staff credit or debit a member's points with a reason.

The rule, once (the built-in ledger and the test platform call it): a credit is new points
of today, so it expires like earned points (R3: a lot of today's date); a debit takes
available points only, the oldest first, never held points (a checkout's hold stays
whole) and never below zero (InsufficientPoints, 409). One entry keyed by the adjustment
id: a replay answers the first result and changes nothing.
"""

from __future__ import annotations

from datetime import datetime

from loyalty_bridge.errors import Conflict, InsufficientPoints, InvalidInput
from loyalty_bridge.models.activity import Adjustment, AdjustmentResult
from loyalty_bridge.models.domain import ActivityKind
from loyalty_bridge.program.account import Account, Entry, credit, debit


def adjustment_entry_id(adjustment_id: str) -> str:
    return f"adjust:{adjustment_id}"


def adjust(acc: Account, adjustment: Adjustment, now: datetime) -> tuple[AdjustmentResult, Entry]:
    """Apply ``adjustment`` to a settled account: its result and its entry."""
    points = adjustment.points
    if points == 0:
        raise InvalidInput("points must be a non-zero number of points", code="invalid_points")
    if points > 0:
        credit(acc, points, now)
    else:
        if -points > acc.available:
            raise InsufficientPoints(f"at most {acc.available} points can be deducted (held points excluded)")
        debit(acc, -points)
    result = AdjustmentResult(adjustment_id=adjustment.adjustment_id, points=points, balance=acc.balance)
    entry = Entry(
        entry_id=adjustment_entry_id(adjustment.adjustment_id),
        member_id=acc.member_id,
        kind="adjust",
        delta=points,
        result=result.model_dump_json(),
        activity=ActivityKind.ADJUSTED,
        points_in=max(points, 0),
        points_out=max(-points, 0),
        balance_after=acc.balance,
        store_id=adjustment.store_id,
        staff_id=adjustment.staff_id,
        reason=adjustment.reason,
    )
    return result, entry


def replayed(first_member_id: str, owner_id: str, result: str) -> AdjustmentResult:
    """The first answer of an adjustment id, when it was this member's; an id used for
    another member is a Conflict (never that member's result)."""
    if first_member_id != owner_id:
        raise Conflict("This adjustment id was used for another member.", code="adjustment_id_in_use")
    return AdjustmentResult.model_validate_json(result)

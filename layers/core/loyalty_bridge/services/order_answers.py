"""What the order API answers (C4, C5), a reversal's record, and the check of a refund
against its order's lines: plain functions of services/orders.py's OrderService.
"""

from __future__ import annotations

from loyalty_bridge import errors
from loyalty_bridge.models.api_checkout import (
    CancelResponse,
    OrderReason,
    OrderResponse,
    RefundRequest,
    RefundResponse,
)
from loyalty_bridge.models.checkout_records import OrderRecord, ReversalRecord
from loyalty_bridge.models.domain import OrderResult, Reversal, ReversalResult


def check_refund_lines(record: OrderRecord, request: RefundRequest) -> None:
    ordered: dict[str, int] = {}
    for sent in record.order.lines:
        ordered[sent.sku] = ordered.get(sent.sku, 0) + sent.quantity
    asked: dict[str, int] = {}
    for line in request.lines:
        asked[line.sku] = asked.get(line.sku, 0) + line.quantity
    problems = []
    for index, line in enumerate(request.lines):
        if line.sku not in ordered:
            problems.append({"field": f"lines.{index}.sku", "message": "not a line of this order"})
        elif asked[line.sku] > ordered[line.sku]:
            problems.append(
                {
                    "field": f"lines.{index}.quantity",
                    "message": f"more than the {ordered[line.sku]} ordered",
                }
            )
    if problems:
        # A business rule, not a field format: the schema cannot know the order's lines.
        raise errors.InvalidInput(
            "The refund does not match the order's lines.", code="refund_mismatch", errors=problems
        )


def credited_answer(result: OrderResult) -> OrderResponse:
    return OrderResponse(
        order_id=result.order_id,
        status="credited",
        points_earned=result.points_earned,
        points_redeemed=result.points_redeemed,
        balance=result.balance,
    )


def not_credited_answer(order_id: str, reason: OrderReason) -> OrderResponse:
    return OrderResponse(
        order_id=order_id,
        status="not_credited",
        reason=reason,
        points_earned=0,
        points_redeemed=0,
        balance=None,
    )


def queued_answer(order_id: str, reason: OrderReason) -> OrderResponse:
    return OrderResponse(
        order_id=order_id,
        status="queued",
        reason=reason,
        points_earned=None,
        points_redeemed=None,
        balance=None,
    )


def reversal_record(reversal: Reversal, result: ReversalResult) -> ReversalRecord:
    return ReversalRecord(
        reversal_id=reversal.reversal_id, cancel=reversal.cancel, lines=list(reversal.lines), result=result
    )


def refund_answer(
    order_id: str, refund_id: str, result: ReversalResult | None, *, earns: bool
) -> RefundResponse:
    """A refund's answer: reversed (``result``), queued, or not applicable (no points)."""
    if result is None:
        status = "queued" if earns else "not_applicable"
        return RefundResponse(
            order_id=order_id,
            refund_id=refund_id,
            status=status,
            points_reversed=None if earns else 0,
            shortfall=None if earns else 0,
            balance=None,
        )
    return RefundResponse(
        order_id=order_id,
        refund_id=refund_id,
        status="reversed",
        points_reversed=result.points_reversed,
        shortfall=result.shortfall,
        balance=result.balance,
    )


def cancel_answer(order_id: str, result: ReversalResult | None, *, earns: bool) -> CancelResponse:
    """A cancel's answer, as ``refund_answer``."""
    if result is None:
        none_or_zero = None if earns else 0
        return CancelResponse(
            order_id=order_id,
            status="queued" if earns else "not_applicable",
            points_reversed=none_or_zero,
            points_returned=none_or_zero,
            shortfall=none_or_zero,
            balance=None,
        )
    return CancelResponse(
        order_id=order_id,
        status="reversed",
        points_reversed=result.points_reversed,
        points_returned=result.points_returned,
        shortfall=result.shortfall,
        balance=result.balance,
    )

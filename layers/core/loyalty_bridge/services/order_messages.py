"""The order queue's messages (C4-C6) and the New Order Errors made of them: what a queued
order or reversal carries, its deterministic message id, and the error record an admin gets
when the platform refuses it or it runs out of deliveries (replayable on the order queue).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from loyalty_bridge import errors
from loyalty_bridge.models.checkout_records import OrderRecord
from loyalty_bridge.models.domain import PlatformOrder, Reversal
from loyalty_bridge.models.messages import Envelope
from loyalty_bridge.models.records import ErrorCategory, ErrorRecord
from loyalty_bridge.privacy import error_id_for, platform_answer

ORDER_POST = "order.post"
ORDER_REFUND = "order.refund"
ORDER_CANCEL = "order.cancel"
ORDER_KINDS = (ORDER_POST, ORDER_REFUND, ORDER_CANCEL)


class OrderJob(BaseModel):
    """Payload of ``order.post``: the order exactly as the platform gets it."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    order: PlatformOrder
    member_id: str | None = None  # none while the customer's account is being created


class ReversalJob(BaseModel):
    """Payload of ``order.refund`` and ``order.cancel``."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    reversal: Reversal


def cancel_id(order_id: str) -> str:
    return f"cancel:{order_id}"


def order_envelope(record: OrderRecord) -> Envelope:
    return Envelope(
        kind=ORDER_POST,
        message_id=f"{ORDER_POST}:{record.order_id}",
        customer_id=record.customer_id,
        payload=OrderJob(order=record.order, member_id=record.member_id).model_dump(mode="json"),
    )


def reversal_envelope(record: OrderRecord, reversal: Reversal) -> Envelope:
    kind = ORDER_CANCEL if reversal.cancel else ORDER_REFUND
    return Envelope(
        kind=kind,
        message_id=f"{kind}:{reversal.order_id}:{reversal.reversal_id}",
        customer_id=record.customer_id,
        payload=ReversalJob(reversal=reversal).model_dump(mode="json"),
    )


def _replay(envelope: Envelope) -> dict[str, Any]:
    return {"queue": "order", "body": envelope.model_dump(mode="json")}


def refused_order_error(record: OrderRecord, exc: errors.PlatformRefused, envelope: Envelope) -> ErrorRecord:
    return ErrorRecord(
        error_id=error_id_for(ErrorCategory.NEW_ORDER, record.order_id),
        category=ErrorCategory.NEW_ORDER,
        customer_id=record.customer_id,
        subject_id=f"order {record.order_id}",
        attempted=f"Credit the points of order {record.order_id}",
        platform_answer=platform_answer(exc),
        change_after=_order_dict(record.order),
        replay=_replay(envelope),
        action=_BLOCKED_CARD_ACTION if isinstance(exc, errors.CardBlocked) else "",
    )


# A10: a retailer wants the customer's own purchase credited once the lost card is replaced.
_BLOCKED_CARD_ACTION = (
    "The customer's loyalty card is blocked (reported lost or stolen), so the order earned "
    "nothing. Replace the card (POST /v1/admin/cards/{card_number}/replace), then replay this "
    "error: the order is credited on the new card."
)


def refused_reversal_error(
    record: OrderRecord, reversal: Reversal, exc: errors.PlatformRefused, envelope: Envelope
) -> ErrorRecord:
    what = "cancelled order" if reversal.cancel else f"refund {reversal.reversal_id} of order"
    return ErrorRecord(
        error_id=error_id_for(ErrorCategory.NEW_ORDER, record.order_id, reversal.reversal_id),
        category=ErrorCategory.NEW_ORDER,
        customer_id=record.customer_id,
        subject_id=f"order {record.order_id}",
        attempted=f"Take back the points of {what} {record.order_id}",
        platform_answer=platform_answer(exc),
        change_after={
            "reversal_id": reversal.reversal_id,
            "cancel": reversal.cancel,
            "lines": [list(line) for line in reversal.lines],
        },
        replay=_replay(envelope),
    )


def given_up_error(envelope: Envelope, exc: BaseException) -> ErrorRecord:
    """The message ran out of deliveries (or cannot be read): the last answer, replayable."""
    order_id, reversal_id = message_ids(envelope)
    attempted = {
        ORDER_POST: f"Credit the points of order {order_id}",
        ORDER_REFUND: f"Take back the points of refund {reversal_id} of order {order_id}",
        ORDER_CANCEL: f"Take back the points of cancelled order {order_id}",
    }.get(envelope.kind, f"Process order message {envelope.kind!r}")
    return ErrorRecord(
        error_id=error_id_for(ErrorCategory.NEW_ORDER, *[p for p in (order_id, reversal_id) if p]),
        category=ErrorCategory.NEW_ORDER,
        customer_id=envelope.customer_id,
        subject_id=f"order {order_id}" if order_id else None,
        attempted=attempted + " (gave up after repeated failures)",
        platform_answer=platform_answer(exc),
        change_after=_order_summary(envelope),
        replay=_replay(envelope),
    )


def message_payload[M: BaseModel](model: type[M], envelope: Envelope) -> M:
    try:
        return model.model_validate(envelope.payload)
    except ValidationError as exc:
        raise errors.Permanent(
            f"unreadable {envelope.kind} message", fields=[".".join(map(str, e["loc"])) for e in exc.errors()]
        ) from exc


def message_ids(envelope: Envelope) -> tuple[str | None, str | None]:
    payload = envelope.payload
    order = payload.get("order")
    reversal = payload.get("reversal")
    if isinstance(order, dict):
        return str(order.get("order_id") or "") or None, None
    if isinstance(reversal, dict):
        return (str(reversal.get("order_id") or "") or None, str(reversal.get("reversal_id") or "") or None)
    return None, envelope.message_id


def _order_dict(order: PlatformOrder) -> dict[str, Any]:
    """The order as the admin email shows it (no personal data: products and amounts)."""
    data = order.model_dump(mode="json")
    data["lines"] = [{k: v for k, v in line.items() if v is not None} for line in data["lines"]]
    return data


def _order_summary(envelope: Envelope) -> dict[str, Any] | None:
    try:
        if envelope.kind == ORDER_POST:
            return _order_dict(OrderJob.model_validate(envelope.payload).order)
        if envelope.kind in (ORDER_REFUND, ORDER_CANCEL):
            return ReversalJob.model_validate(envelope.payload).reversal.model_dump(mode="json")
    except ValidationError:
        return {"payload": "unreadable"}
    return None

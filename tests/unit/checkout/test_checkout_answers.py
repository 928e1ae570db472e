"""What a new order's credit is written with (answers.py, services/new_changes.py): its
record, its hold's record marked captured, and the request's answer, unless a step after
the credit must run again when that answer is lost."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from loyalty_bridge import answers
from loyalty_bridge.models.checkout_records import OrderLoyalty, OrderRecord
from loyalty_bridge.models.domain import CouponStanding, OrderResult, PlatformOrder, PlatformOrderLine
from tests.fakes import InMemoryCheckoutStore
from tests.unit.checkout.conftest import Shop


class RecordItems(InMemoryCheckoutStore):
    """The store's transaction items, as markers."""

    def credited_order_items(self, record: OrderRecord, member_id: str, result: OrderResult) -> list[Any]:
        return [("order", record.order_id)]

    def captured_redemption_items(self, redemption_id: str, order_id: str) -> list[Any]:
        return [("captured", redemption_id, order_id)]


class Answering:
    def __init__(self) -> None:
        self.answered: list[Any] = []

    def items(self, answer: Any) -> Sequence[answers.AnswerItem]:
        self.answered.append(answer)
        return [answers.AnswerItem(answer=answer.order_id)]

    def committed(self) -> None: ...

    def declined(self) -> None: ...

    def completed_with(self, response_data: str) -> bool:
        return False


def record(redemption_id: str | None = None) -> OrderRecord:
    line = PlatformOrderLine(product_code="A", title="A", quantity=1, unit_price=Decimal(10), sku="A")
    order = PlatformOrder(
        order_id="o-1",
        placed_at=datetime(2026, 12, 7, tzinfo=UTC),
        currency="EUR",
        total=Decimal(10),
        lines=[line],
        redemption_id=redemption_id,
    )
    return OrderRecord(
        order_id="o-1", customer_id="c-1", member_id="m-1", loyalty=OrderLoyalty.MEMBER, order=order
    )


def credit(refused: CouponStanding | None = None) -> OrderResult:
    return OrderResult(
        order_id="o-1", points_earned=10, points_redeemed=0, balance=10, coupon_refused=refused
    )


def test_the_answer_rides_with_the_credit_and_a_hold_is_captured_with_it(shop: Shop) -> None:
    shop.orders._store = RecordItems()
    answering = Answering()
    with answers.answering(answering):
        items = shop.orders._recorded_with_credit(record("rd_1"), "m-1", credit())
    assert items == [("order", "o-1"), ("captured", "rd_1", "o-1"), {"answer": "o-1"}]
    [answer] = answering.answered
    assert (answer.status, answer.points_earned, answer.balance) == ("credited", 10, 10)


def test_a_refused_coupon_keeps_the_answer_out_so_a_lost_answer_reports_it_again(shop: Shop) -> None:
    shop.orders._store = RecordItems()
    answering = Answering()
    with answers.answering(answering):
        items = shop.orders._recorded_with_credit(record(), "m-1", credit(CouponStanding.USED))
    assert items == [("order", "o-1")]
    assert answering.answered == []


def test_with_no_request_answering_only_the_records_are_written(shop: Shop) -> None:
    shop.orders._store = RecordItems()
    assert shop.orders._recorded_with_credit(record("rd_1"), "m-1", credit()) == [
        ("order", "o-1"),
        ("captured", "rd_1", "o-1"),
    ]

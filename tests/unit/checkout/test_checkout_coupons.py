"""R4 at checkout: a promo code that is a loyalty coupon is shown at quote and, when the
order may not use it (used already, another member's), the order is credited with no points
and becomes one New Order Error ("coupon used twice"), emailed once (C3, C6)."""

from __future__ import annotations

import json

import pytest

from loyalty_bridge import errors
from loyalty_bridge.models.api_checkout import QuoteRequest
from loyalty_bridge.models.domain import Coupon
from loyalty_bridge.models.messages import Envelope
from loyalty_bridge.models.records import ErrorCategory
from loyalty_bridge.services.admin import replayable
from loyalty_bridge.settings import Settings
from tests.unit.checkout.conftest import Shop, build_shop, line, order

REWARDS = [
    {"reward_id": "five-off", "name": "5 off", "points": 500, "kind": "fixed_discount", "value": "5.00"}
]


@pytest.fixture
def shop() -> Shop:
    return build_shop(
        Settings(
            admin_emails=("admin@example.com",),
            notify_admins=True,
            earn_rules_json=json.dumps({"rewards": REWARDS}),
        )
    )


def coupon_for(shop: Shop, customer_id: str, key: str = "k-1") -> Coupon:
    shop.customer(customer_id)
    shop.give_points(customer_id, 600)
    member_id = shop.customers.get(customer_id).member_id  # type: ignore[union-attr]
    return shop.platform.redeem_reward(member_id or "", "five-off", idempotency_key=key)


def quote(customer_id: str | None, promo_code: str) -> QuoteRequest:
    return QuoteRequest(
        customer_id=customer_id, currency="EUR", lines=[line("SKU-1", "20.00")], promo_code=promo_code
    )


def coupon_status(shop: Shop, customer_id: str | None, promo_code: str) -> str | None:
    answer = shop.checkout.quote(quote(customer_id, promo_code))
    return answer.coupon.status.value if answer.coupon else None


def coupon_errors(shop: Shop) -> list[str]:
    return [error_id for error_id in shop.error_store.records if error_id.endswith(":coupon")]


def test_the_quote_shows_the_coupon_its_promo_code_names(shop: Shop) -> None:
    coupon = coupon_for(shop, "c-1")
    shop.customer("c-2")

    mine = shop.checkout.quote(quote("c-1", coupon.code.lower()))
    plain = shop.checkout.quote(quote("c-1", "SUMMER10"))

    assert mine.model_dump(mode="json")["coupon"] == {
        "code": coupon.code,
        "status": "available",
        "reward": "five-off",
        "kind": "fixed_discount",
        "value": "5.00",
    }
    assert mine.points_to_earn == 0  # C3: a coupon is a promo code
    assert coupon_status(shop, "c-2", coupon.code) == "not_yours"
    assert coupon_status(shop, None, coupon.code) == "not_yours"  # a guest's basket
    assert plain.coupon is None
    assert "coupon" not in plain.model_dump(mode="json")  # not a loyalty coupon: no field at all
    assert plain.points_to_earn == 0


def test_an_order_with_a_used_coupon_is_credited_with_no_points_and_one_error(shop: Shop) -> None:
    coupon = coupon_for(shop, "c-1")
    first = shop.orders.place(order("o-1", "c-1", [line("A", "20.00")], promo_code=coupon.code))
    assert first.status == "credited"
    assert coupon_errors(shop) == []
    assert coupon_status(shop, "c-1", coupon.code) == "used"
    mails_before = len(shop.mailer.sent)

    again = [
        shop.orders.place(order("o-2", "c-1", [line("A", "20.00")], promo_code=coupon.code)) for _ in range(3)
    ]
    # A queue redelivery of the same order, too.
    stored = shop.store.orders["o-2"].order.model_dump(mode="json")
    shop.orders.settle(
        Envelope(kind="order.post", message_id="order.post:o-2", customer_id="c-1", payload={"order": stored})
    )

    assert all((a.status, a.points_earned) == ("credited", 0) for a in again)
    assert coupon_errors(shop) == ["new_order:o-2:coupon"]
    record = shop.error_store.records["new_order:o-2:coupon"]
    assert record.category is ErrorCategory.NEW_ORDER
    assert record.customer_id == "c-1"
    assert "coupon used twice" in record.platform_answer
    assert "already used" in record.platform_answer
    assert record.action  # what the admin does: nothing to replay, resolve once handled
    assert not replayable(record)
    assert len(shop.mailer.sent) == mails_before + 1
    assert "coupon used twice" in shop.mailer.sent[-1].text


def test_an_order_with_another_members_coupon_is_an_error_and_leaves_the_coupon(shop: Shop) -> None:
    coupon = coupon_for(shop, "c-1")
    shop.customer("c-2")

    answer = shop.orders.place(order("o-bob", "c-2", [line("A", "20.00")], promo_code=coupon.code))

    assert (answer.status, answer.points_earned) == ("credited", 0)
    assert "another member's" in shop.error_store.records["new_order:o-bob:coupon"].platform_answer
    assert coupon_status(shop, "c-1", coupon.code) == "available"


def test_a_coupon_error_whose_email_failed_is_emailed_when_the_order_comes_again(shop: Shop) -> None:
    coupon = coupon_for(shop, "c-1")
    shop.orders.place(order("o-1", "c-1", [line("A", "20.00")], promo_code=coupon.code))
    mails_before = len(shop.mailer.sent)
    shop.mailer.fail_with = errors.Retryable("mail down")

    with pytest.raises(errors.Retryable):
        shop.orders.place(order("o-2", "c-1", [line("A", "20.00")], promo_code=coupon.code))
    shop.mailer.fail_with = None
    answer = shop.orders.place(order("o-2", "c-1", [line("A", "20.00")], promo_code=coupon.code))

    assert (answer.status, answer.points_earned) == ("credited", 0)
    assert len(shop.mailer.sent) == mails_before + 1
    assert coupon_errors(shop) == ["new_order:o-2:coupon"]


def test_a_plain_promo_code_raises_no_error(shop: Shop) -> None:
    shop.customer("c-1")
    answer = shop.orders.place(order("o-1", "c-1", [line("A", "20.00")], promo_code="SUMMER10"))
    assert (answer.status, answer.points_earned) == ("credited", 0)
    assert shop.error_store.records == {}
    assert shop.balance("c-1") == 0

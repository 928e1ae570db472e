"""Quote (C1, C3) and redemption holds (C2) over the in-memory platform."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from loyalty_bridge import errors
from loyalty_bridge.models.api_checkout import QuoteRequest, RedemptionRequest
from loyalty_bridge.models.domain import LoyaltyStatus
from loyalty_bridge.observability import MetricName
from loyalty_bridge.services.checkout import sweep_expired_holds
from tests.unit.checkout.conftest import Shop, line


def quote_request(customer_id: str | None = "c-1", **extra: object) -> QuoteRequest:
    body: dict[str, object] = {
        "customer_id": customer_id,
        "currency": "EUR",
        "lines": [line("SKU-1", "40.00", 2).model_dump(), line("SKU-2", "20.50").model_dump()],
        "shipping": "4.95",
    }
    body.update(extra)
    return QuoteRequest.model_validate(body)


def hold_request(points: int, cart_id: str = "cart-1", total: str = "100.00") -> RedemptionRequest:
    return RedemptionRequest(customer_id="c-1", cart_id=cart_id, points=points, order_total=Decimal(total))


def test_quote_says_points_to_earn_balance_and_what_can_be_redeemed(shop: Shop) -> None:
    shop.customer("c-1")
    shop.give_points("c-1", 3000)
    answer = shop.checkout.quote(quote_request(redeem_points=1000))
    assert answer.joined is True
    assert answer.points_to_earn == 100  # 100.50 of merchandise, shipping excluded
    assert answer.balance == 3000
    # At most half of 100.50 payable with points: 5025 points, but only 3000 on the balance.
    assert answer.redeemable_points == 3000
    assert answer.point_value == Decimal("0.01")
    assert answer.max_discount == Decimal("30.00")
    assert (answer.redeem_points, answer.discount) == (1000, Decimal("10.00"))
    assert answer.points_to_earn_with_redemption == 90  # the discount lowers the spend


def test_redeemable_points_respect_the_largest_share_of_the_order(shop: Shop) -> None:
    shop.customer("c-1")
    shop.give_points("c-1", 20_000)
    answer = shop.checkout.quote(quote_request(redeem_points=20_000))
    assert answer.redeemable_points == 5025
    assert answer.redeem_points == 5025  # asked for more than allowed: the discount shown is possible
    assert answer.discount == Decimal("50.25")


def test_a_promo_code_earns_nothing(shop: Shop) -> None:
    shop.customer("c-1")
    answer = shop.checkout.quote(quote_request(promo_code="SUMMER10"))
    assert answer.points_to_earn == 0
    assert answer.points_to_earn_with_redemption == 0


def test_guests_and_customers_not_joined_see_what_joining_would_earn(shop: Shop) -> None:
    shop.customer("c-2", status=LoyaltyStatus.NOT_JOINED)
    for customer_id in (None, "c-2"):
        answer = shop.checkout.quote(quote_request(customer_id, redeem_points=50))
        assert (answer.joined, answer.balance, answer.redeemable_points, answer.discount) == (
            False,
            0,
            0,
            Decimal(0),
        )
        assert answer.points_to_earn == 100


def test_accumulate_only_customers_earn_but_cannot_redeem(shop: Shop) -> None:
    record = shop.customer("c-1")
    shop.give_points("c-1", 500)
    account = shop.platform.accounts[record.member_id or ""]
    account.member = account.member.model_copy(update={"accumulate_only": True})
    answer = shop.checkout.quote(quote_request(redeem_points=100))
    assert (answer.accumulate_only, answer.redeemable_points, answer.discount) == (True, 0, Decimal(0))
    assert answer.points_to_earn == 100
    with pytest.raises(errors.Refused) as refused:
        shop.checkout.hold(hold_request(100))
    assert refused.value.code == "profile_incomplete"


def test_unknown_customer_is_404(shop: Shop) -> None:
    with pytest.raises(errors.NotFound):
        shop.checkout.quote(quote_request("nobody"))


def test_a_hold_reserves_points_until_it_expires(shop: Shop) -> None:
    shop.customer("c-1")
    shop.give_points("c-1", 1000)
    held = shop.checkout.hold(hold_request(400))
    assert (held.points, held.discount) == (400, Decimal("4.00"))
    assert held.expires_at == shop.clock() + timedelta(minutes=30)
    assert shop.available("c-1") == 600
    assert shop.checkout.quote(quote_request()).redeemable_points == 600
    assert shop.metrics.total(MetricName.REDEMPTIONS_HELD) == 1

    shop.clock.advance(minutes=31)
    assert sweep_expired_holds(shop.platform, shop.clock()) == 1
    assert shop.available("c-1") == 1000


def test_two_carts_racing_for_the_same_points_one_wins(shop: Shop) -> None:
    shop.customer("c-1")
    shop.give_points("c-1", 1000)
    shop.checkout.hold(hold_request(1000, "cart-a", total="500.00"))
    with pytest.raises(errors.InsufficientPoints) as lost:
        shop.checkout.hold(hold_request(1000, "cart-b", total="500.00"))
    assert lost.value.code == "insufficient_points"
    assert shop.available("c-1") == 0
    assert shop.balance("c-1") == 1000  # held, not spent


def test_asking_again_for_the_same_cart_replaces_its_hold(shop: Shop) -> None:
    shop.customer("c-1")
    shop.give_points("c-1", 1000)
    first = shop.checkout.hold(hold_request(800))
    second = shop.checkout.hold(hold_request(900))
    assert first.redemption_id != second.redemption_id
    assert shop.available("c-1") == 100
    assert shop.store.redemptions[first.redemption_id].status == "released"


def test_a_hold_beyond_the_share_of_the_order_is_refused(shop: Shop) -> None:
    shop.customer("c-1")
    shop.give_points("c-1", 1000)
    with pytest.raises(errors.InsufficientPoints):
        shop.checkout.hold(hold_request(600, total="10.00"))


def test_releasing_gives_the_points_back_and_twice_is_fine(shop: Shop) -> None:
    shop.customer("c-1")
    shop.give_points("c-1", 1000)
    held = shop.checkout.hold(hold_request(500))
    shop.checkout.release(held.redemption_id)
    shop.checkout.release(held.redemption_id)
    assert shop.available("c-1") == 1000
    with pytest.raises(errors.NotFound):
        shop.checkout.release("rd_unknown")


def test_only_members_can_hold_points(shop: Shop) -> None:
    shop.customer("c-1", status=LoyaltyStatus.PENDING)
    with pytest.raises(errors.Refused) as refused:
        shop.checkout.hold(hold_request(10))
    assert refused.value.code == "not_joined"


def test_sweeping_a_platform_that_expires_holds_itself_does_nothing() -> None:
    class ExternalPlatform:
        pass

    assert sweep_expired_holds(ExternalPlatform(), datetime.now(UTC)) is None

"""Kind discount (R9, seed 001): a per-tier percentage off at checkout, no points earned or
redeemed, spend still counts towards tiers; the summary shows the tier and its discount."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from loyalty_bridge import errors
from loyalty_bridge.models.api_checkout import QuoteRequest, RedemptionRequest
from loyalty_bridge.program.earn_rules import FixedProgram, ProgramRules
from loyalty_bridge.services.summary import SummaryService
from loyalty_bridge.settings import Settings
from tests.unit.checkout.conftest import Shop, build_shop, line, order

DISCOUNT = {
    "kind": "discount",
    "tiers": [
        {"name": "Bronze", "min_spend": 0, "discount_percent": "5"},
        {"name": "Silver", "min_spend": 500, "discount_percent": "10"},
    ],
}


def discount_shop() -> Shop:
    shop = build_shop(Settings(earn_rules_json=json.dumps(DISCOUNT)))
    shop.customer("c-1")
    return shop


def quote(shop: Shop, price: str, redeem: int = 0) -> dict[str, object]:
    request = QuoteRequest(customer_id="c-1", currency="EUR", lines=[line("X", price)], redeem_points=redeem)
    return shop.checkout.quote(request).model_dump(mode="json")


def test_the_quote_answers_the_tiers_percentage_off_and_no_points() -> None:
    shop = discount_shop()

    answer = quote(shop, "80.00", redeem=100)

    assert (answer["discount_percent"], answer["discount"]) == ("5", "4.00")
    assert (answer["points_to_earn"], answer["redeemable_points"], answer["redeem_points"]) == (0, 0, 0)


def test_a_promo_code_gets_no_program_discount_no_double_discount() -> None:
    shop = discount_shop()
    request = QuoteRequest(customer_id="c-1", currency="EUR", lines=[line("X", "80.00")], promo_code="SUMMER")

    answer = shop.checkout.quote(request).model_dump(mode="json")

    assert (answer["discount_percent"], answer["discount"]) == ("0", "0.00")


def test_the_order_earns_nothing_and_its_spend_moves_the_member_up_a_tier() -> None:
    shop = discount_shop()

    placed = shop.orders.place(order("o-1", "c-1", [line("X", "600.00")], discount=Decimal("30.00")))

    assert (placed.status, placed.points_earned, shop.balance("c-1")) == ("credited", 0, 0)
    member_id = shop.customers.get("c-1").member_id  # type: ignore[union-attr]
    assert shop.platform.get_balance(member_id or "").tier == "Silver"  # 570.00 spent after the discount
    answer = quote(shop, "80.00")
    assert (answer["discount_percent"], answer["discount"]) == ("10", "8.00")


def test_no_points_can_be_held_on_a_discount_program() -> None:
    shop = discount_shop()
    shop.orders.place(order("o-1", "c-1", [line("X", "100.00")]))

    with pytest.raises(errors.InsufficientPoints):
        shop.checkout.hold(
            RedemptionRequest(customer_id="c-1", cart_id="c", points=1, order_total=Decimal(100))
        )


def test_the_summary_shows_the_tier_and_its_discount() -> None:
    shop = discount_shop()
    shop.orders.place(order("o-1", "c-1", [line("X", "600.00")]))
    rules = ProgramRules.model_validate(DISCOUNT)

    summary = SummaryService(shop.customers, shop.platform, shop.settings, program=FixedProgram(rules))
    tier = summary.summary("c-1").model_dump(mode="json")["tier"]

    assert (tier["name"], tier["discount_percent"]) == ("Silver", "10")


def test_a_points_program_answers_no_discount_percent() -> None:
    shop = build_shop()
    shop.customer("c-1")

    assert "discount_percent" not in quote(shop, "10.00")


def test_the_storefront_program_of_a_discount_program_lists_no_ways_to_earn() -> None:
    from loyalty_bridge.services.program import storefront_program

    shown = storefront_program(1, ProgramRules.model_validate(DISCOUNT)).model_dump(mode="json")

    assert shown["ways_to_earn"] == []
    assert [tier["discount_percent"] for tier in shown["tiers"]] == ["5", "10"]

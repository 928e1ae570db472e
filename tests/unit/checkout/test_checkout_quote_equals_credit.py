"""Property: "you will earn N" at checkout is exactly what the order credits (C1 == C4)."""

from __future__ import annotations

import json
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty_bridge.models.api_checkout import CheckoutLine, QuoteRequest, RedemptionRequest
from loyalty_bridge.settings import Settings
from tests.unit.checkout.conftest import build_shop, order

RULES = json.dumps(
    {
        "rules": [
            {"kind": "spend", "points": 1, "per": 1},
            {"kind": "sku", "skus": ["COFFEE-BEANS-1KG-ORGANIC-FAIRTRADE"], "points_per_item": 5},
            # Longer than the 10 characters the platform gets: must match in quote and credit alike.
            {"kind": "category", "categories": ["Electronics"], "points": 2, "per": 10},
            {
                "kind": "category",
                "categories": ["\u5bb6\u5177\u548c\u5bb6\u5c45\u7528\u54c1\u90e8\u95e8\u5927"],
                "points_per_item": 3,
            },
            {"kind": "visit", "points": 10, "channels": ["webshop"]},
        ],
        "tiers": [
            {"name": "Silver", "min_spend": 0},
            {"name": "Gold", "min_spend": 500, "earn_multiplier": 1.5},
        ],
    }
)

# R2: every tier with rates of its own (share, point value, multiplier, % of spend).
TIERED_RULES = json.dumps(
    {
        **json.loads(RULES),
        "tiers": [
            {"name": "Bronze", "min_spend": 0, "max_redeem_share": "0.2"},
            {
                "name": "Silver",
                "min_spend": 300,
                "earn_multiplier": "1.25",
                "point_value": "0.02",
                "max_redeem_share": "0.4",
            },
            {
                "name": "Gold",
                "min_spend": 1000,
                "earn_percent": "5",
                "point_value": "0.05",
                "max_redeem_share": "0.8",
            },
        ],
    }
)

# R10: a GBP program that converts EUR baskets and orders (1 EUR = 0.8537 GBP), per-tier rates too.
CONVERTING_RULES = json.dumps(
    {**json.loads(TIERED_RULES), "currency": "GBP", "exchange_rates": {"EUR": "0.8537"}}
)

skus = st.sampled_from(["COFFEE-BEANS-1KG-ORGANIC-FAIRTRADE", "TV-55", "SOFA", "caf\u00e9-\u2615", "X"])
category_names = st.sampled_from(
    [
        None,
        "",
        "Electronics",
        "Electronics & Gadgets",
        "Home",
        "\u5bb6\u5177\u548c\u5bb6\u5c45\u7528\u54c1\u90e8\u95e8\u5927",
        "Cafe\u0301 corner",
        "\U0001f3e0\U0001f3e0\U0001f3e0\U0001f3e0\U0001f3e0\U0001f3e0\U0001f3e0\U0001f3e0\U0001f3e0\U0001f3e0\U0001f3e0",
    ]
)
prices = st.decimals(
    min_value=Decimal("0"), max_value=Decimal("400"), places=2, allow_nan=False, allow_infinity=False
)
lines = st.builds(
    CheckoutLine,
    sku=skus,
    title=st.text(max_size=80),
    quantity=st.integers(min_value=1, max_value=5),
    unit_price=prices,
    categories=st.lists(category_names, max_size=3),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    basket=st.lists(lines, min_size=1, max_size=6),
    shipping=st.decimals(min_value=Decimal("0"), max_value=Decimal("20"), places=2),
    promo=st.sampled_from([None, None, "SUMMER10"]),
    balance=st.integers(min_value=0, max_value=2000),
    redeem=st.integers(min_value=0, max_value=3000),
)
def test_quote_equals_credit(
    basket: list[CheckoutLine], shipping: Decimal, promo: str | None, balance: int, redeem: int
) -> None:
    check_quote_equals_credit(RULES, basket, shipping, promo, balance, redeem)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    basket=st.lists(lines, min_size=1, max_size=6),
    shipping=st.decimals(min_value=Decimal("0"), max_value=Decimal("20"), places=2),
    promo=st.sampled_from([None, None, "SUMMER10"]),
    balance=st.integers(min_value=0, max_value=2000),
    redeem=st.integers(min_value=0, max_value=3000),
)
def test_quote_equals_credit_with_per_tier_rates(
    basket: list[CheckoutLine], shipping: Decimal, promo: str | None, balance: int, redeem: int
) -> None:
    check_quote_equals_credit(TIERED_RULES, basket, shipping, promo, balance, redeem)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    basket=st.lists(lines, min_size=1, max_size=6),
    shipping=st.decimals(min_value=Decimal("0"), max_value=Decimal("20"), places=2),
    promo=st.sampled_from([None, None, "SUMMER10"]),
    balance=st.integers(min_value=0, max_value=2000),
    redeem=st.integers(min_value=0, max_value=3000),
)
def test_quote_equals_credit_converted_from_another_currency(
    basket: list[CheckoutLine], shipping: Decimal, promo: str | None, balance: int, redeem: int
) -> None:
    check_quote_equals_credit(CONVERTING_RULES, basket, shipping, promo, balance, redeem)


def check_quote_equals_credit(
    rules: str, basket: list[CheckoutLine], shipping: Decimal, promo: str | None, balance: int, redeem: int
) -> None:
    shop = build_shop(Settings(earn_rules_json=rules))
    shop.customer("c-1")
    if balance:
        shop.give_points("c-1", balance)
    quote = shop.checkout.quote(
        QuoteRequest(
            customer_id="c-1",
            currency="EUR",
            lines=basket,
            shipping=shipping,
            promo_code=promo,
            redeem_points=redeem,
        )
    )
    subtotal = sum((ln.unit_price * ln.quantity for ln in basket), Decimal(0))
    redemption_id, discount, expected = None, Decimal(0), quote.points_to_earn
    if quote.redeem_points:
        held = shop.checkout.hold(
            RedemptionRequest(
                customer_id="c-1",
                cart_id="cart",
                points=quote.redeem_points,
                order_total=subtotal,
                currency="EUR",
            )
        )
        assert held.discount == quote.discount
        redemption_id, discount, expected = (
            held.redemption_id,
            held.discount,
            quote.points_to_earn_with_redemption,
        )
    answer = shop.orders.place(
        order(
            "o-1",
            "c-1",
            basket,
            shipping=shipping,
            discount=discount,
            promo_code=promo,
            redemption_id=redemption_id,
        )
    )
    assert answer.status == "credited"
    assert answer.points_earned == expected
    assert answer.points_redeemed == quote.redeem_points
    if promo:
        assert answer.points_earned == 0

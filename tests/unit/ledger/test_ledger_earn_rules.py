"""R1/R2 program rules: earn per amount, sku, category, visit, channel/store limits, tiers."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty_bridge.models.domain import Basket, BasketLine, Channel, PlatformOrder, PlatformOrderLine
from loyalty_bridge.program.earn_rules import (
    EarnInput,
    EarnLine,
    LineEarn,
    ProgramRules,
    earn,
    load_rules,
    reversal_points,
)
from loyalty_bridge.settings import Settings


def rules(**config: object) -> ProgramRules:
    return load_rules(Settings(earn_rules_json=json.dumps(config)))


def data(
    *lines: tuple[str, int, str],
    discount: str = "0",
    shipping: str = "0",
    promo: str | None = None,
    channel: Channel = Channel.WEBSHOP,
    store: str | None = None,
    cats: tuple[str, ...] = (),
) -> EarnInput:
    return EarnInput(
        lines=tuple(EarnLine(sku=s, quantity=q, unit_price=Decimal(p), categories=cats) for s, q, p in lines),
        discount=Decimal(discount),
        shipping=Decimal(shipping),
        promo_code=promo,
        channel=channel,
        store_id=store,
    )


def test_default_is_one_point_per_whole_unit_after_discounts_without_shipping() -> None:
    default = load_rules(Settings())
    result = earn(default, data(("A", 1, "10.99"), ("B", 2, "5.00"), discount="1.00", shipping="4.99"))

    assert result.points == 19  # 20.99 - 1.00 = 19.99 -> 19
    assert result.base == Decimal("19.99")
    assert sum(line.points for line in result.lines) + result.order_points == 19


def test_spend_base_options() -> None:
    before = rules(spend_base="before_discounts", include_shipping=True)
    assert earn(before, data(("A", 1, "20"), discount="5", shipping="3")).points == 23
    per_ten = rules(rules=[{"kind": "spend", "points": 2, "per": 10}])
    assert earn(per_ten, data(("A", 1, "39.99"))).points == 6


def test_product_category_and_visit_rules() -> None:
    program = rules(
        rules=[
            {"kind": "sku", "skus": ["TEA"], "points_per_item": 5},
            {
                "kind": "category",
                "categories": ["Garden tools"],
                "points_per_item": 1,
                "points": 1,
                "per": 10,
            },
            {"kind": "visit", "points": 4},
        ]
    )
    assert earn(program, data(("TEA", 3, "1"))).points == 15 + 4
    # Category names are compared on their first 10 characters, ignoring case: the
    # platform's order lines carry them cut to 10 (C4), baskets in full.
    garden = earn(program, data(("RAKE", 2, "15"), cats=("GARDEN TOO",)))
    assert garden.points == 2 + 3 + 4
    assert garden.order_points == 4
    assert earn(program, data(("RAKE", 2, "15"), cats=("Kitchen",))).points == 4


def test_rules_limited_to_channels_and_points_of_sale() -> None:
    program = rules(
        rules=[
            {"kind": "spend", "points": 1, "per": 1, "channels": ["webshop"]},
            {"kind": "visit", "points": 10, "channels": ["store"], "store_ids": ["S1", "S2"]},
        ]
    )
    assert earn(program, data(("A", 1, "50"))).points == 50
    assert earn(program, data(("A", 1, "50"), channel=Channel.STORE, store="S1")).points == 10
    assert earn(program, data(("A", 1, "50"), channel=Channel.STORE, store="S9")).points == 0


def test_promo_code_means_no_points_unless_configured_otherwise() -> None:
    assert earn(load_rules(Settings()), data(("A", 1, "50"), promo="WELCOME")).points == 0
    assert earn(rules(promo_code_blocks_earn=False), data(("A", 1, "50"), promo="WELCOME")).points == 50


def test_tiers_multiply_earn_and_may_change_point_value() -> None:
    program = rules(
        tiers=[
            {"name": "Silver", "min_spend": 0},
            {"name": "Gold", "min_spend": 500, "earn_multiplier": 1.5, "point_value": "0.02"},
        ]
    )
    assert earn(program, data(("A", 1, "11")), lifetime_spend=Decimal("499.99")).points == 11
    gold = earn(program, data(("A", 1, "11")), lifetime_spend=Decimal(500))
    assert (gold.points, gold.tier) == (16, "Gold")
    assert program.point_value_for(Decimal(500)) == Decimal("0.02")
    assert program.point_value_for(Decimal(0)) == Decimal("0.01")
    assert program.next_tier(Decimal(100)) == program.tiers[1]


def test_redeemable_points_are_capped_by_balance_and_share() -> None:
    program = load_rules(Settings(point_value=Decimal("0.05"), max_redeem_share=Decimal("0.3")))
    assert program.redeemable_points(10_000, Decimal("100"), Decimal(0)) == 600  # 30.00 / 0.05
    assert program.redeemable_points(120, Decimal("100"), Decimal(0)) == 120
    assert program.redeemable_points(120, Decimal("-5"), Decimal(0)) == 0
    assert program.discount_for(7, Decimal(0)) == Decimal("0.35")


def test_quote_input_and_order_input_agree() -> None:
    program = rules(
        rules=[
            {"kind": "spend"},
            {"kind": "category", "categories": ["Outdoor furniture"], "points_per_item": 3},
        ]
    )
    basket = Basket(
        currency="EUR",
        shipping=Decimal("5"),
        lines=[
            BasketLine(
                sku="CHAIR",
                quantity=2,
                unit_price=Decimal("45.50"),
                categories=["Outdoor furniture", "Chairs"],
            ),
        ],
    )
    order = PlatformOrder(
        order_id="o",
        placed_at="2025-01-01T00:00:00Z",
        currency="EUR",
        shipping=Decimal("5"),
        total=Decimal("86.00"),
        lines=[
            PlatformOrderLine(
                product_code="CHAIR",
                title="Chair",
                department="Outdoor fu",
                category="Chairs",
                quantity=2,
                unit_price=Decimal("45.50"),
                sku="CHAIR",
            ),
        ],
    )
    quoted = earn(program, EarnInput.from_basket(basket, extra_discount=Decimal("10.00")))
    credited = earn(program, EarnInput.from_order(order))
    assert quoted == credited
    assert credited.points == 81 + 6


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"rules": [{"kind": "bogus"}]}', "rules"),
        ('{"rules": [{"kind": "spend", "per": 0}]}', "per"),
        ('{"tiers": [{"name": "A", "min_spend": 10}]}', "min_spend 0"),
        ('{"tiers": [{"name": "A", "min_spend": 0}, {"name": "B", "min_spend": 0}]}', "increasing"),
        ('{"surprise": 1}', "surprise"),
        ('"text"', "object or a list"),
    ],
)
def test_bad_configuration_is_a_clear_error(config: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_rules(Settings(earn_rules_json=config))


def test_a_bare_list_of_rules_is_accepted() -> None:
    program = load_rules(Settings(earn_rules_json='[{"kind": "visit", "points": 2}]'))
    assert earn(program, data(("A", 1, "100"))).points == 2


@settings(max_examples=200, deadline=None)
@given(
    points=st.integers(min_value=0, max_value=10_000),
    quantity=st.integers(min_value=1, max_value=50),
    refunds=st.lists(st.integers(min_value=0, max_value=60), max_size=8),
)
def test_refunds_never_take_back_more_than_the_line_earned(
    points: int, quantity: int, refunds: list[int]
) -> None:
    line = LineEarn(sku="A", quantity=quantity, points=points, amount=Decimal(quantity))
    taken, done = 0, 0
    for asked in refunds:
        got, counted = reversal_points(line, done, asked)
        assert got >= 0
        taken += got
        done += counted
        assert taken <= points
    rest, _ = reversal_points(line, done, quantity)
    assert taken + rest == points


@settings(max_examples=150, deadline=None)
@given(
    lines=st.lists(
        st.tuples(
            st.sampled_from(["A", "B", "C", "D"]),
            st.integers(1, 20),
            st.decimals(min_value=0, max_value=500, places=2),
        ),
        min_size=1,
        max_size=6,
    ),
    discount=st.decimals(min_value=0, max_value=300, places=2),
)
def test_line_shares_add_up_to_the_total(lines: list[tuple[str, int, Decimal]], discount: Decimal) -> None:
    program = rules(
        rules=[
            {"kind": "spend"},
            {"kind": "sku", "skus": ["B"], "points_per_item": 3},
            {"kind": "visit", "points": 1},
        ],
        tiers=[{"name": "T", "min_spend": 0, "earn_multiplier": 1.25}],
    )
    result = earn(program, data(*((s, q, str(p)) for s, q, p in lines), discount=str(discount)))
    assert sum(line.points for line in result.lines) + result.order_points == result.points
    assert all(line.points >= 0 for line in result.lines)

"""Per-tier rates (R2): a tier may set its earn rate (multiplier or % of spend), its point
value and its largest share payable with points; each unset falls back to the program's."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from loyalty_bridge.program.earn_rules import (
    EarnInput,
    EarnLine,
    ProductRule,
    ProgramRules,
    SpendRule,
    Tier,
    earn,
)

RULES = ProgramRules(
    rules=(SpendRule(), ProductRule(skus=frozenset({"MUG"}), points_per_item=5)),
    point_value=Decimal("0.01"),
    max_redeem_share=Decimal("0.5"),
    tiers=(
        Tier(name="Bronze", min_spend=Decimal(0), max_redeem_share=Decimal("0.1")),
        Tier(name="Silver", min_spend=Decimal(500), earn_multiplier=Decimal(2), point_value=Decimal("0.02")),
        Tier(
            name="Gold",
            min_spend=Decimal(2000),
            earn_percent=Decimal(5),
            point_value=Decimal("0.05"),
            max_redeem_share=Decimal("0.8"),
        ),
    ),
)


def basket(*lines: tuple[str, str, int]) -> EarnInput:
    return EarnInput(lines=tuple(EarnLine(sku=s, unit_price=Decimal(p), quantity=q) for s, p, q in lines))


def test_a_tier_without_a_share_uses_the_programs_and_one_with_a_share_uses_its_own() -> None:
    assert RULES.max_redeem_share_for(Decimal(0)) == Decimal("0.1")
    assert RULES.max_redeem_share_for(Decimal(600)) == Decimal("0.5")
    assert RULES.max_redeem_share_for(Decimal(2500)) == Decimal("0.8")


def test_redeemable_points_follow_the_members_tier_share_and_point_value() -> None:
    # Bronze: 10% of 100 = 10.00 at 0.01 -> 1000; Silver: 50% = 50.00 at 0.02 -> 2500;
    # Gold: 80% = 80.00 at 0.05 -> 1600.
    assert RULES.redeemable_points(10_000, Decimal(100), Decimal(0)) == 1000
    assert RULES.redeemable_points(10_000, Decimal(100), Decimal(600)) == 2500
    assert RULES.redeemable_points(10_000, Decimal(100), Decimal(2500)) == 1600


def test_a_tier_multiplier_applies_to_every_rule() -> None:
    assert earn(RULES, basket(("MUG", "10.00", 1), ("TEA", "30.00", 1)), Decimal(600)).points == (40 + 5) * 2


def test_a_tier_percent_of_spend_replaces_the_spend_rules_at_the_tiers_point_value() -> None:
    # Gold: 5% of 200.00 = 10.00 worth of points at 0.05 -> 200, plus the sku rule's 5.
    earned = earn(RULES, basket(("MUG", "50.00", 1), ("TEA", "150.00", 1)), Decimal(2500))

    assert earned.points == 205
    assert earned.tier == "Gold"
    assert {line.sku: line.points for line in earned.lines} == {"MUG": 55, "TEA": 150}


def test_a_promo_code_blocks_the_tier_percent_too() -> None:
    data = basket(("TEA", "100.00", 1)).model_copy(update={"promo_code": "SUMMER"})

    assert earn(RULES, data, Decimal(2500)).points == 0


@pytest.mark.parametrize(
    "field", [{"earn_percent": "101"}, {"max_redeem_share": "1.5"}, {"earn_percent": "-1"}]
)
def test_tier_rates_out_of_range_are_refused(field: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        Tier.model_validate({"name": "Gold", "min_spend": 0, **field})

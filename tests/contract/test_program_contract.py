"""The LoyaltyPlatform contract for the program rules beyond earning (PRODUCT.md R2-R5, A9):
points expiry, accumulate-only members, tiers, rewards and coupons, referrals.

Runs unchanged against every implementation (memory, ledger on moto, REST over HTTP).
Only what the port shows is asserted: balances, next expiry, members, coupons, refusals.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from loyalty_bridge.errors import InsufficientPoints, ProfileIncomplete, RewardNotFound
from loyalty_bridge.models.domain import (
    Basket,
    BasketLine,
    Consents,
    CouponCheck,
    CouponStanding,
    CouponStatus,
    MemberProfile,
    ProfileChanges,
    Reversal,
    RewardKind,
)
from tests.contract.conftest import MakePlatform
from tests.contract.harness import PlatformHarness, require
from tests.contract.test_platform_contract import PROGRAM, earn_points, join, order

REWARDS = [
    {"reward_id": "mug", "name": "Coffee mug", "points": 1500, "kind": "product", "value": "MUG-1"},
    {"reward_id": "five-off", "name": "5 off", "points": 500, "kind": "fixed_discount", "value": "5.00"},
]


def program(**fields: Any) -> str:
    return json.dumps(fields)


def balance_of(h: PlatformHarness, member_id: str) -> tuple[int, int, date | None]:
    balance = h.platform.get_balance(member_id)
    return balance.balance, balance.next_expiry_points, balance.next_expiry_on


def entries_match(h: PlatformHarness, member_id: str) -> None:
    if h.entries_total is not None:
        assert h.entries_total(member_id) == h.platform.get_balance(member_id).balance


def move_to(h: PlatformHarness, moment: datetime) -> None:
    h.clock.advance(seconds=(moment - h.clock()).total_seconds())


def spend_with_a_hold(h: PlatformHarness, member_id: str, points: int, key: str) -> None:
    """Capture a hold of ``points`` with an order that earns nothing (a promo code)."""
    h.platform.hold_points(
        member_id, key, points, order_total=Decimal(10_000), expires_at=h.clock() + timedelta(minutes=30)
    )
    h.platform.post_order(
        member_id, order(f"o-{key}", ("A", 1, "100"), when=h, promo="PROMO", redemption_id=key)
    )


# ------------------------------------------------------------------------------ expiry (R3)


def test_points_expire_oldest_first_after_the_configured_months(make_platform: MakePlatform) -> None:
    h = make_platform(earn_rules_json=program(expiry_months=1))  # the clock starts 2025-01-15 12:00
    member = join(h)
    earn_points(h, member, 100, "o-1")
    h.clock.advance(days=10)
    earn_points(h, member, 50, "o-2")

    assert balance_of(h, member.member_id) == (150, 100, date(2025, 2, 15))

    move_to(h, datetime(2025, 2, 14, 23, 59, tzinfo=UTC))
    assert balance_of(h, member.member_id) == (150, 100, date(2025, 2, 15))
    move_to(h, datetime(2025, 2, 15, 0, 1, tzinfo=UTC))
    assert balance_of(h, member.member_id) == (50, 50, date(2025, 2, 25))
    entries_match(h, member.member_id)
    h.clock.advance(days=10)
    assert balance_of(h, member.member_id) == (0, 0, None)
    entries_match(h, member.member_id)


def test_spending_and_refunds_take_the_oldest_points_first(make_platform: MakePlatform) -> None:
    h = make_platform(earn_rules_json=program(expiry_months=1, rewards=REWARDS))
    member = join(h)
    earn_points(h, member, 100, "o-1")  # 2025-01-15
    h.clock.advance(days=5)
    earn_points(h, member, 100, "o-2")  # 2025-01-20
    h.clock.advance(days=5)
    earn_points(h, member, 700, "o-3")  # 2025-01-25

    spend_with_a_hold(h, member.member_id, 60, "r-1")  # 100 -> 40 of the 15th
    assert balance_of(h, member.member_id) == (840, 40, date(2025, 2, 15))
    h.platform.redeem_reward(member.member_id, "five-off", idempotency_key="k-1")  # 40 + 100 + 360
    assert balance_of(h, member.member_id) == (340, 340, date(2025, 2, 25))
    h.platform.reverse(member.member_id, Reversal(reversal_id="ref-1", order_id="o-1", cancel=True))
    assert balance_of(h, member.member_id) == (240, 240, date(2025, 2, 25))

    move_to(h, datetime(2025, 2, 25, 1, tzinfo=UTC))
    assert balance_of(h, member.member_id) == (0, 0, None)
    entries_match(h, member.member_id)


def test_points_returned_by_a_cancellation_start_a_new_lot(make_platform: MakePlatform) -> None:
    h = make_platform(earn_rules_json=program(expiry_months=1))
    member = join(h)
    earn_points(h, member, 100, "o-1")
    spend_with_a_hold(h, member.member_id, 100, "r-1")
    h.clock.advance(days=20)

    h.platform.reverse(member.member_id, Reversal(reversal_id="cancel:o-r-1", order_id="o-r-1", cancel=True))

    assert balance_of(h, member.member_id) == (100, 100, date(2025, 3, 4))
    entries_match(h, member.member_id)


def test_held_points_wait_for_their_hold_then_expire(make_platform: MakePlatform) -> None:
    h = make_platform(earn_rules_json=program(expiry_months=1))
    member = join(h)
    earn_points(h, member, 100, "o-1")
    move_to(h, datetime(2025, 2, 14, 23, 50, tzinfo=UTC))
    h.platform.hold_points(
        member.member_id, "r-1", 60, order_total=Decimal(1000), expires_at=h.clock() + timedelta(hours=1)
    )

    move_to(h, datetime(2025, 2, 15, 0, 10, tzinfo=UTC))
    balance = h.platform.get_balance(member.member_id)
    assert (balance.balance, balance.held, balance.available) == (60, 60, 0)
    h.platform.release_hold(member.member_id, "r-1")
    balance = h.platform.get_balance(member.member_id)
    assert (balance.balance, balance.held) == (0, 0)
    entries_match(h, member.member_id)


def test_captured_held_points_are_spent_not_expired(make_platform: MakePlatform) -> None:
    h = make_platform(earn_rules_json=program(expiry_months=1))
    member = join(h)
    earn_points(h, member, 100, "o-1")
    move_to(h, datetime(2025, 2, 14, 23, 50, tzinfo=UTC))
    h.platform.hold_points(
        member.member_id, "r-1", 60, order_total=Decimal(1000), expires_at=h.clock() + timedelta(hours=1)
    )
    move_to(h, datetime(2025, 2, 15, 0, 10, tzinfo=UTC))

    result = h.platform.post_order(
        member.member_id, order("o-2", ("A", 1, "10"), when=h, promo="P", redemption_id="r-1")
    )

    assert result.points_redeemed == 60
    assert h.platform.get_balance(member.member_id).balance == 0
    entries_match(h, member.member_id)


def test_the_sweeper_writes_off_expired_points_once(make_platform: MakePlatform) -> None:
    h = make_platform(earn_rules_json=program(expiry_months=2))
    if h.expire_points is None:
        pytest.skip(f"{h.name} has no points sweeper")
    ann, bob = join(h, "ann@example.com"), join(h, "bob@example.com")
    earn_points(h, ann, 100, "o-1")
    h.clock.advance(days=40)
    earn_points(h, bob, 30, "o-2")
    move_to(h, datetime(2025, 3, 16, tzinfo=UTC))

    assert h.expire_points(h.clock()) == 1
    assert h.expire_points(h.clock()) == 0

    assert balance_of(h, ann.member_id) == (0, 0, None)
    assert balance_of(h, bob.member_id) == (30, 30, date(2025, 4, 24))
    entries_match(h, ann.member_id)


def test_points_never_expire_by_default(platform: PlatformHarness) -> None:
    member = join(platform)
    earn_points(platform, member, 100)
    platform.clock.advance(days=5 * 366)

    assert balance_of(platform, member.member_id) == (100, 0, None)
    if platform.expire_points is not None:
        assert platform.expire_points(platform.clock()) == 0


# ------------------------------------------------------------------------------ accumulate-only (A9)


def test_accumulate_only_until_the_required_fields_are_filled(make_platform: MakePlatform) -> None:
    h = make_platform(
        earn_rules_json=program(required_profile_fields=["mobile", "birthday"], rewards=REWARDS)
    )
    p = h.platform
    member = join(h)  # no mobile, no birthday
    earn_points(h, member, 1000)
    basket = Basket(currency="EUR", lines=[BasketLine(sku="A", quantity=1, unit_price=Decimal("40"))])

    assert member.accumulate_only is True
    assert p.get_balance(member.member_id).accumulate_only is True
    quote = p.quote(member.member_id, basket)
    assert (quote.points_to_earn, quote.balance, quote.redeemable_points) == (40, 1000, 0)
    with pytest.raises(ProfileIncomplete):
        p.quote(member.member_id, basket, redeem_points=10)
    with pytest.raises(ProfileIncomplete) as refused:
        p.hold_points(
            member.member_id, "r-1", 10, order_total=Decimal(40), expires_at=h.clock() + timedelta(minutes=5)
        )
    assert refused.value.code == "profile_incomplete"
    with pytest.raises(ProfileIncomplete):
        p.redeem_reward(member.member_id, "five-off", idempotency_key="k-1")
    assert p.get_balance(member.member_id).balance == 1000  # earning went on, nothing was spent

    p.update_profile(member.member_id, ProfileChanges(mobile="+447700900010"), idempotency_key="u-1")
    assert p.get_member(member.member_id).accumulate_only is True  # birthday still missing
    updated = p.update_profile(
        member.member_id, ProfileChanges(birthday=date(1990, 5, 1)), idempotency_key="u-2"
    )

    assert updated.accumulate_only is False
    assert p.get_balance(member.member_id).accumulate_only is False
    assert p.quote(member.member_id, basket).redeemable_points == 1000
    hold = p.hold_points(
        member.member_id, "r-2", 10, order_total=Decimal(40), expires_at=h.clock() + timedelta(minutes=5)
    )
    assert hold.points == 10


def test_nobody_is_accumulate_only_by_default(platform: PlatformHarness) -> None:
    member = join(platform)
    assert member.accumulate_only is False
    assert platform.platform.get_balance(member.member_id).accumulate_only is False


# ------------------------------------------------------------------------------ tiers (R2)


def test_balance_says_the_tier_the_next_one_and_the_spend_to_reach_it(make_platform: MakePlatform) -> None:
    h = make_platform(earn_rules_json=PROGRAM)  # Bronze from 0, Gold from 100
    member = join(h)

    balance = h.platform.get_balance(member.member_id)
    assert (balance.tier, balance.next_tier, balance.spend_to_next_tier) == ("Bronze", "Gold", Decimal(100))
    h.platform.post_order(member.member_id, order("o-1", ("A", 1, "26.50"), when=h))
    balance = h.platform.get_balance(member.member_id)
    assert (balance.tier, balance.next_tier, balance.spend_to_next_tier) == (
        "Bronze",
        "Gold",
        Decimal("73.50"),
    )
    h.platform.post_order(member.member_id, order("o-2", ("A", 1, "80"), when=h))
    balance = h.platform.get_balance(member.member_id)
    assert (balance.tier, balance.next_tier, balance.spend_to_next_tier) == ("Gold", None, None)
    assert h.platform.get_member(member.member_id).tier == "Gold"


# ------------------------------------------------------------------------------ rewards (R4)


def test_rewards_catalogue_cheapest_first(make_platform: MakePlatform) -> None:
    h = make_platform(earn_rules_json=program(rewards=REWARDS))
    catalogue = h.platform.rewards()
    assert [(r.reward_id, r.points, r.kind) for r in catalogue] == [
        ("five-off", 500, RewardKind.FIXED_DISCOUNT),
        ("mug", 1500, RewardKind.PRODUCT),
    ]


def test_redeeming_a_reward_spends_its_points_and_issues_a_coupon_once(make_platform: MakePlatform) -> None:
    h = make_platform(earn_rules_json=program(rewards=REWARDS))
    p = h.platform
    member = join(h)
    earn_points(h, member, 1200)

    coupon = p.redeem_reward(member.member_id, "five-off", idempotency_key="k-1")
    again = p.redeem_reward(member.member_id, "five-off", idempotency_key="k-1")

    assert again == coupon
    assert (coupon.reward_id, coupon.points, coupon.kind, coupon.value) == (
        "five-off",
        500,
        "fixed_discount",
        "5.00",
    )
    assert coupon.status == CouponStatus.AVAILABLE
    assert re.fullmatch(r"LB(-[0-9A-Z]{4}){4}", coupon.code)
    assert p.get_balance(member.member_id).balance == 700
    assert p.coupons(member.member_id) == [coupon]
    with pytest.raises(InsufficientPoints):
        p.redeem_reward(member.member_id, "mug", idempotency_key="k-2")
    with pytest.raises(RewardNotFound):
        p.redeem_reward(member.member_id, "no-such-reward", idempotency_key="k-3")
    assert p.get_balance(member.member_id).balance == 700

    second = p.redeem_reward(member.member_id, "five-off", idempotency_key="k-4")
    assert second.code != coupon.code
    assert p.coupons(member.member_id) == [second, coupon]
    assert p.get_balance(member.member_id).balance == 200
    entries_match(h, member.member_id)


def test_an_order_with_a_coupon_as_its_promo_code_uses_it_once(make_platform: MakePlatform) -> None:
    h = make_platform(earn_rules_json=program(rewards=REWARDS))
    p = h.platform
    member = join(h)
    earn_points(h, member, 1200)
    kept = p.redeem_reward(member.member_id, "five-off", idempotency_key="k-1")
    spent = p.redeem_reward(member.member_id, "five-off", idempotency_key="k-2")
    balance = p.get_balance(member.member_id).balance

    first = p.post_order(member.member_id, order("o-c1", ("A", 1, "20"), when=h, promo=spent.code.lower()))
    again = p.post_order(member.member_id, order("o-c1", ("A", 1, "20"), when=h, promo=spent.code.lower()))

    assert again == first
    assert first.points_earned == 0  # C3: a promo code earns nothing, a coupon is one
    statuses = {c.code: c.status for c in p.coupons(member.member_id)}
    assert statuses == {spent.code: CouponStatus.USED, kept.code: CouponStatus.AVAILABLE}
    assert p.get_balance(member.member_id).balance == balance  # using a coupon moves no points

    # Used once: a second order with it is still credited, and the coupon stays used.
    p.post_order(member.member_id, order("o-c2", ("A", 1, "20"), when=h, promo=spent.code))
    assert {c.code: c.status for c in p.coupons(member.member_id)} == statuses
    entries_match(h, member.member_id)


def test_a_coupon_is_used_only_by_its_own_member(make_platform: MakePlatform) -> None:
    h = make_platform(earn_rules_json=program(rewards=REWARDS))
    ann, bob = join(h, "ann@example.com"), join(h, "bob@example.com")
    earn_points(h, ann, 600)
    coupon = h.platform.redeem_reward(ann.member_id, "five-off", idempotency_key="k-1")

    h.platform.post_order(bob.member_id, order("o-bob", ("A", 1, "20"), when=h, promo=coupon.code))

    assert [c.status for c in h.platform.coupons(ann.member_id)] == [CouponStatus.AVAILABLE]


def test_a_quote_names_the_coupon_its_promo_code_is_and_whether_the_member_may_use_it(
    make_platform: MakePlatform,
) -> None:
    h = make_platform(earn_rules_json=program(rewards=REWARDS))
    p = h.platform
    ann, bob = join(h, "ann@example.com"), join(h, "bob@example.com")
    earn_points(h, ann, 600)
    coupon = p.redeem_reward(ann.member_id, "five-off", idempotency_key="k-1")

    def quoted(member_id: str | None, promo: str | None) -> CouponCheck | None:
        lines = [BasketLine(sku="A", quantity=1, unit_price=Decimal("20"))]
        return p.quote(member_id, Basket(currency="EUR", lines=lines, promo_code=promo)).coupon

    def check(status: CouponStanding) -> CouponCheck:
        return CouponCheck(
            code=coupon.code, status=status, reward="five-off", kind=RewardKind.FIXED_DISCOUNT, value="5.00"
        )

    assert quoted(ann.member_id, f" {coupon.code.lower()} ") == check(CouponStanding.AVAILABLE)
    assert quoted(bob.member_id, coupon.code) == check(CouponStanding.NOT_YOURS)
    assert quoted(None, coupon.code) == check(CouponStanding.NOT_YOURS)  # a guest's basket
    assert quoted(ann.member_id, "SUMMER10") is None  # not a loyalty coupon: a plain promo code
    assert quoted(ann.member_id, "LB-0000-0000-0000-0000") is None  # no such coupon
    assert quoted(ann.member_id, None) is None
    assert [c.status for c in p.coupons(ann.member_id)] == [CouponStatus.AVAILABLE]  # a quote uses nothing

    p.post_order(ann.member_id, order("o-c1", ("A", 1, "20"), when=h, promo=coupon.code))
    assert quoted(ann.member_id, coupon.code) == check(CouponStanding.USED)
    assert quoted(bob.member_id, coupon.code) == check(CouponStanding.NOT_YOURS)


def test_an_order_naming_a_used_or_anothers_coupon_is_credited_without_using_it(
    make_platform: MakePlatform,
) -> None:
    h = make_platform(earn_rules_json=program(rewards=REWARDS))
    p = h.platform
    ann, bob = join(h, "ann@example.com"), join(h, "bob@example.com")
    earn_points(h, ann, 1200)
    spent = p.redeem_reward(ann.member_id, "five-off", idempotency_key="k-1")
    kept = p.redeem_reward(ann.member_id, "five-off", idempotency_key="k-2")

    first = p.post_order(ann.member_id, order("o-c1", ("A", 1, "20"), when=h, promo=spent.code))
    twice = p.post_order(ann.member_id, order("o-c2", ("A", 1, "20"), when=h, promo=spent.code.lower()))
    theirs = p.post_order(bob.member_id, order("o-bob", ("A", 1, "20"), when=h, promo=kept.code))
    plain = p.post_order(ann.member_id, order("o-plain", ("A", 1, "20"), when=h, promo="SUMMER10"))

    assert first.coupon_refused is None  # used by this order
    assert (twice.coupon_refused, twice.points_earned) == (CouponStanding.USED, 0)  # credited, no points
    assert (theirs.coupon_refused, theirs.points_earned) == (CouponStanding.NOT_YOURS, 0)
    assert plain.coupon_refused is None
    # Replays answer the first credit, refusal included (C6).
    assert (
        p.post_order(ann.member_id, order("o-c2", ("A", 1, "20"), when=h, promo=spent.code.lower())) == twice
    )
    assert p.post_order(bob.member_id, order("o-bob", ("A", 1, "20"), when=h, promo=kept.code)) == theirs
    assert {c.code: c.status for c in p.coupons(ann.member_id)} == {
        spent.code: CouponStatus.USED,
        kept.code: CouponStatus.AVAILABLE,  # another member's order does not use it
    }
    entries_match(h, ann.member_id)


def test_held_points_cannot_buy_a_reward(make_platform: MakePlatform) -> None:
    h = make_platform(earn_rules_json=program(rewards=REWARDS))
    member = join(h)
    earn_points(h, member, 600)
    h.platform.hold_points(
        member.member_id, "r-1", 200, order_total=Decimal(1000), expires_at=h.clock() + timedelta(minutes=5)
    )

    with pytest.raises(InsufficientPoints):
        h.platform.redeem_reward(member.member_id, "five-off", idempotency_key="k-1")
    assert h.platform.coupons(member.member_id) == []


# ------------------------------------------------------------------------------ referrals (R5)


def test_every_member_has_a_stable_referral_code(platform: PlatformHarness) -> None:
    require(platform, "referrals")
    ann, bob = join(platform, "ann@example.com"), join(platform, "bob@example.com")

    assert ann.referral_code
    assert ann.referral_code != bob.referral_code
    assert platform.platform.get_member(ann.member_id).referral_code == ann.referral_code
    assert platform.platform.get_balance(ann.member_id).referral_code == ann.referral_code


def test_referrer_earns_the_bonus_once_when_the_referred_first_order_is_credited(
    make_platform: MakePlatform,
) -> None:
    h = make_platform(earn_rules_json=program(referral_bonus_points=200))
    p = h.platform
    ann = join(h, "ann@example.com")
    assert ann.referral_code is not None
    bob = p.create_member(
        MemberProfile(email="bob@example.com"),
        Consents(),
        idempotency_key="join:bob",
        referral_code=ann.referral_code.lower(),
    )
    assert p.get_balance(ann.member_id).balance == 0  # joining alone earns nothing

    first = order("o-1", ("A", 1, "10"), when=h)
    p.post_order(bob.member_id, first)
    p.post_order(bob.member_id, first)  # a replay
    p.post_order(bob.member_id, order("o-2", ("A", 1, "10"), when=h))

    assert p.get_balance(ann.member_id).balance == 200
    assert p.get_balance(bob.member_id).balance == 20
    entries_match(h, ann.member_id)
    entries_match(h, bob.member_id)


def test_an_unknown_referral_code_is_ignored(make_platform: MakePlatform) -> None:
    h = make_platform(earn_rules_json=program(referral_bonus_points=200))
    ann = join(h, "ann@example.com")
    carl = h.platform.create_member(
        MemberProfile(email="carl@example.com"),
        Consents(),
        idempotency_key="join:carl",
        referral_code="NOPE-NOPE",
    )

    h.platform.post_order(carl.member_id, order("o-1", ("A", 1, "10"), when=h))

    assert h.platform.get_balance(carl.member_id).balance == 10
    assert h.platform.get_balance(ann.member_id).balance == 0

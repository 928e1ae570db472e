"""The LoyaltyPlatform contract for the card lifecycle (A10): block a lost or stolen card,
replace it by a stock card; on every implementation (in-memory, ledger, REST)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from loyalty_bridge.errors import (
    CardBlocked,
    CardNotFound,
    CardNotInStock,
    CardNotReplaceable,
    InsufficientPoints,
    InvalidInput,
    PlatformRefused,
)
from loyalty_bridge.models.domain import Basket, BasketLine, CardKind, CardState, Member, Reversal
from loyalty_bridge.program import card_numbers
from tests.contract.conftest import MakePlatform
from tests.contract.harness import PlatformHarness, require
from tests.contract.test_platform_contract import PROGRAM, earn_points, join, order
from tests.contract.test_program_contract import program


def stock(h: PlatformHarness) -> str:
    number = card_numbers.new_virtual_number(prefix="61", length=16)
    h.platform.import_cards("stock-1", [number])
    return number


def blocked(h: PlatformHarness, points: int = 300) -> Member:
    member = join(h)
    earn_points(h, member, points)
    h.platform.block_card(member.card.number, reason="lost", idempotency_key="block-1")
    return member


BASKET = Basket(currency="EUR", lines=[BasketLine(sku="A", quantity=1, unit_price=Decimal("100"))])


def test_a_blocked_card_earns_and_spends_nothing(platform: PlatformHarness) -> None:
    require(platform, "card_lifecycle")
    p = platform.platform
    member = blocked(platform)
    assert p.get_member(member.member_id).card.state is CardState.BLOCKED
    with pytest.raises(CardBlocked):
        p.post_order(member.member_id, order("o-after", ("A", 1, "50"), when=platform))
    with pytest.raises(CardBlocked):
        p.quote(member.member_id, BASKET, redeem_points=10)
    with pytest.raises(CardBlocked):
        p.hold_points(
            member.member_id,
            "r-1",
            10,
            order_total=Decimal(100),
            expires_at=platform.clock() + timedelta(minutes=30),
        )
    quote = p.quote(member.member_id, BASKET)
    assert (quote.points_to_earn, quote.redeemable_points, quote.balance) == (0, 0, 300)
    assert p.get_balance(member.member_id).balance == 300


def test_a_blocked_card_redeems_no_reward(make_platform: MakePlatform) -> None:
    rewards = [
        {"reward_id": "five-off", "name": "5 off", "points": 100, "kind": "fixed_discount", "value": "5"}
    ]
    h = make_platform(earn_rules_json=program(rewards=rewards))
    member = blocked(h)
    with pytest.raises(CardBlocked):
        h.platform.redeem_reward(member.member_id, "five-off", idempotency_key="rw-1")
    assert h.platform.coupons(member.member_id) == []


def test_refunds_still_take_back_points_on_a_blocked_card(platform: PlatformHarness) -> None:
    require(platform, "card_lifecycle")
    p = platform.platform
    member = join(platform)
    p.post_order(member.member_id, order("o-1", ("A", 1, "80"), when=platform))
    p.block_card(member.card.number, reason="stolen", idempotency_key="block-1")
    result = p.reverse(member.member_id, Reversal(reversal_id="rf-1", order_id="o-1", cancel=True))
    assert (result.points_reversed, result.balance) == (80, 0)


def test_blocking_twice_changes_nothing_and_unknown_cards_are_not_found(platform: PlatformHarness) -> None:
    require(platform, "card_lifecycle")
    p = platform.platform
    member = blocked(platform)
    again = p.block_card(member.card.number, reason="lost", idempotency_key="block-2")
    assert (again.member_id, again.card.state) == (member.member_id, CardState.BLOCKED)
    with pytest.raises(CardNotFound):
        p.block_card(card_numbers.new_virtual_number(), reason="lost", idempotency_key="block-3")
    with pytest.raises(CardNotFound):  # stock never registered is nobody's card
        p.block_card(stock(platform), reason="lost", idempotency_key="block-4")


def test_a_replacement_keeps_points_lots_expiry_and_spend_and_blocks_the_old_card(
    make_platform: MakePlatform,
) -> None:
    h = make_platform(earn_rules_json=program(expiry_months=6), pending_days=14)
    p = h.platform
    member = join(h)
    earn_points(h, member, 120, order_id="o-old")
    h.clock.advance(days=20)
    p.post_order(member.member_id, order("o-new", ("A", 1, "30"), when=h))  # still pending
    before = p.get_balance(member.member_id)
    p.block_card(member.card.number, reason="lost", idempotency_key="block-1")
    new_number = stock(h)

    replaced = p.replace_card(member.card.number, new_number, idempotency_key="replace-1")

    assert replaced.member_id == member.member_id
    assert (replaced.card.number, replaced.card.kind, replaced.card.state) == (
        new_number,
        CardKind.PHYSICAL,
        CardState.ACTIVE,
    )
    after = p.get_balance(member.member_id)
    assert after == before
    assert (after.balance, after.pending, after.next_expiry_points) == (120, 30, 120)
    assert [m.member_id for m in p.find_members(card_number=new_number)] == [member.member_id]
    # The member earns again, on the new card.
    earned = p.post_order(member.member_id, order("o-after", ("A", 1, "10"), when=h))
    assert earned.points_earned == 10
    if h.entries_total is not None:
        assert h.entries_total(member.member_id) == p.get_balance(member.member_id).balance


def test_a_repeated_replacement_answers_the_same_and_another_number_is_refused(
    platform: PlatformHarness,
) -> None:
    require(platform, "card_lifecycle")
    p = platform.platform
    member = blocked(platform)
    new_number, other = stock(platform), stock(platform)
    first = p.replace_card(member.card.number, new_number, idempotency_key="replace-1")
    same_key = p.replace_card(member.card.number, new_number, idempotency_key="replace-1")
    same_ids = p.replace_card(member.card.number, new_number, idempotency_key="replace-2")
    assert first == same_key == same_ids
    with pytest.raises(CardNotReplaceable) as refused:
        p.replace_card(member.card.number, other, idempotency_key="replace-3")
    assert refused.value.code == "card_already_replaced"
    assert p.get_member(member.member_id).card.number == new_number
    # Blocking the old card again changes nothing: the member's card is the new, active one.
    again = p.block_card(member.card.number, reason="lost", idempotency_key="b-x")
    assert (again.card.number, again.card.state) == (new_number, CardState.ACTIVE)


def test_a_replacement_card_must_be_unregistered_stock(platform: PlatformHarness) -> None:
    require(platform, "card_lifecycle")
    p = platform.platform
    member = blocked(platform)
    someone = join(platform, email="bo@example.com")
    with pytest.raises(CardNotReplaceable) as in_use:
        p.replace_card(member.card.number, someone.card.number, idempotency_key="r-1")
    assert in_use.value.code == "card_in_use"
    with pytest.raises(CardNotInStock):
        p.replace_card(member.card.number, card_numbers.new_virtual_number(), idempotency_key="r-2")
    bad = card_numbers.new_virtual_number()
    with pytest.raises((InvalidInput, PlatformRefused)) as invalid:  # a 422 either way
        p.replace_card(member.card.number, bad[:-1] + str((int(bad[-1]) + 1) % 10), idempotency_key="r-3")
    assert invalid.value.code == "invalid_card_number"
    with pytest.raises(CardNotFound):
        p.replace_card(card_numbers.new_virtual_number(), stock(platform), idempotency_key="r-4")
    assert p.get_member(member.member_id).card.number == member.card.number  # nothing changed
    assert p.get_member(someone.member_id).card.state is CardState.ACTIVE


def test_an_active_card_may_be_replaced_directly(platform: PlatformHarness) -> None:
    require(platform, "card_lifecycle")
    p = platform.platform
    member = join(platform)
    earn_points(platform, member, 40)
    new_number = stock(platform)
    replaced = p.replace_card(member.card.number, new_number, idempotency_key="r-1")
    assert replaced.card.number == new_number
    assert p.get_balance(member.member_id).balance == 40
    with pytest.raises(InsufficientPoints):  # spending works again: only the balance limits it
        p.quote(member.member_id, BASKET, redeem_points=41)


def test_the_program_rules_still_apply_after_a_replacement(make_platform: MakePlatform) -> None:
    h = make_platform(earn_rules_json=PROGRAM)
    member = join(h)
    h.platform.post_order(member.member_id, order("o-1", ("A", 1, "150"), when=h))
    h.platform.replace_card(member.card.number, stock(h), idempotency_key="r-1")
    assert h.platform.get_member(member.member_id).tier == "Gold"  # tier spend followed

"""A8 with several web accounts on one mobile (issue 17, item 4): phone confirm offers only
the cards this customer may merge (their own and those no web account holds), counts the
others without showing them, and a merge never touches another web account's card (A5).

Cards no web account holds come from the card stock and member imports: here the platform
port makes them directly (``import_physical_cards`` then ``attach_card`` as in store, or
``create_member``), as those imports will.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from loyalty_bridge import errors
from loyalty_bridge.models.domain import (
    CardKind,
    CardState,
    LoyaltyStatus,
    Member,
    MemberProfile,
    PlatformOrder,
    PlatformOrderLine,
)
from loyalty_bridge.models.records import ErrorCategory
from loyalty_bridge.models.verification import Purpose
from loyalty_bridge.program import card_numbers
from loyalty_bridge.services.phone import PhoneOutcome
from tests.unit.membership.conftest import World

MOBILE = "+447700900123"
_STOCK_PAYLOAD = "61000000000004"


def _stock_number() -> str:
    """A valid card number from the shop's printed stock."""
    return _STOCK_PAYLOAD + card_numbers.luhn_check_digit(_STOCK_PAYLOAD)


def _verify(world: World, customer_id: str) -> PhoneOutcome:
    world.phone.start(customer_id, MOBILE)
    return world.phone.confirm(customer_id, world.last_sms_code())


def _joined_web_account(world: World, customer_id: str, email: str) -> Member:
    """A web account that signed up with ``MOBILE`` and was auto-joined (its own card)."""
    world.sign_up(customer_id, email=email, mobile=MOBILE)
    world.run_worker()
    record = world.customers.get(customer_id)
    assert record is not None
    assert record.status is LoyaltyStatus.JOINED, record
    return world.platform.get_member(record.member_id or "")


def _stock_card_member(world: World, email: str) -> Member:
    """A physical card from the card stock, registered in store with ``MOBILE``."""
    number = _stock_number()
    assert world.platform.import_physical_cards([number]) == 1
    return world.platform.attach_card(
        number,
        MemberProfile(email=email, first_name="Store", mobile=MOBILE),
        idempotency_key=f"in-store-{number}",
    )


def _earn(world: World, member: Member, amount: str, order_id: str) -> None:
    line = PlatformOrderLine(
        product_code="SKU1", title="Thing", quantity=1, unit_price=Decimal(amount), sku="SKU1"
    )
    world.platform.post_order(
        member.member_id,
        PlatformOrder(
            order_id=order_id,
            placed_at=datetime(2026, 1, 2, tzinfo=UTC),
            currency="EUR",
            lines=[line],
            total=Decimal(amount),
        ),
    )


def _points(world: World, member_id: str) -> int:
    balance = world.platform.get_balance(member_id)
    return balance.balance + balance.pending


def test_two_web_accounts_on_one_mobile_see_only_their_own_and_the_unlinked_cards(world: World) -> None:
    mine = _joined_web_account(world, "c-1", "ann.one@example.com")
    theirs = _joined_web_account(world, "c-2", "bob.two@example.com")
    stock = world.existing_member("store@example.com", mobile=MOBILE)  # the member import's kind
    _earn(world, theirs, "90.00", "o-theirs")

    outcome = _verify(world, "c-1")

    assert outcome.cards is not None
    assert sorted(c.number for c in outcome.cards) == sorted([mine.card.number, stock.card.number])
    assert outcome.others_on_phone == 1
    assert theirs.card.number not in repr(outcome)
    challenge = world.verifications.get_challenge("c-1", Purpose.PHONE_VERIFIED)
    assert challenge is not None
    assert theirs.member_id not in challenge.member_ids


def test_merging_another_web_accounts_card_is_refused_like_a_card_not_on_the_phone(world: World) -> None:
    mine = _joined_web_account(world, "c-1", "ann.one@example.com")
    theirs = _joined_web_account(world, "c-2", "bob.two@example.com")
    stock = world.existing_member("store@example.com", mobile=MOBILE)
    _earn(world, theirs, "90.00", "o-theirs")
    before = _points(world, theirs.member_id)
    _verify(world, "c-1")

    with pytest.raises(errors.Refused) as named:
        world.phone.merge("c-1", mine.card.number, [theirs.card.number])
    with pytest.raises(errors.Refused) as unknown:
        world.phone.merge("c-1", mine.card.number, [_stock_number()])

    assert (named.value.code, str(named.value)) == (unknown.value.code, str(unknown.value))
    assert named.value.code == "cards_not_on_phone"
    assert theirs.card.number not in str(named.value)
    assert world.platform.get_member(theirs.member_id).card.state is CardState.ACTIVE
    assert _points(world, theirs.member_id) == before
    assert world.customers.linked_customer(member_id=theirs.member_id) == "c-2"
    assert not world.errors.records  # nothing for the admins: the customer named a wrong card
    # The customer can still merge what was offered.
    record = world.phone.merge("c-1", mine.card.number, [stock.card.number])
    assert record.member_id == mine.member_id
    assert world.platform.get_member(stock.member_id).card.state is CardState.BLOCKED


def test_two_web_accounts_alone_on_a_mobile_are_offered_no_merge(world: World) -> None:
    mine = _joined_web_account(world, "c-1", "ann.one@example.com")
    theirs = _joined_web_account(world, "c-2", "bob.two@example.com")

    outcome = _verify(world, "c-1")

    assert outcome.cards is None  # the summary: nothing this customer could merge
    assert outcome.record.member_id == mine.member_id
    assert outcome.record.consents.sms is True
    assert world.verifications.get_challenge("c-1", Purpose.PHONE_VERIFIED) is None
    assert world.customers.linked_customer(member_id=theirs.member_id) == "c-2"
    assert not world.errors.records


def test_a_customer_not_joined_merges_the_unlinked_cards_on_their_phone(world: World) -> None:
    theirs = _joined_web_account(world, "c-2", "bob.two@example.com")
    physical = _stock_card_member(world, "ann.store@example.com")
    virtual = world.existing_member("ann.old@example.com", mobile=MOBILE)
    _earn(world, physical, "50.00", "o-physical")
    _earn(world, virtual, "70.00", "o-virtual")
    pending = world.platform.get_balance(physical.member_id).pending
    pending += world.platform.get_balance(virtual.member_id).pending
    total = _points(world, physical.member_id) + _points(world, virtual.member_id)
    assert total > 0
    world.sign_up("c-1", email="ann@example.com", join=False)

    outcome = _verify(world, "c-1")
    assert outcome.cards is not None
    assert sorted(c.number for c in outcome.cards) == sorted([physical.card.number, virtual.card.number])
    assert outcome.others_on_phone == 1
    record = world.phone.merge("c-1", physical.card.number, [virtual.card.number])

    assert record.status is LoyaltyStatus.JOINED
    assert (record.member_id, record.card_number) == (physical.member_id, physical.card.number)
    assert record.card_kind == CardKind.PHYSICAL.value
    assert _points(world, physical.member_id) == total
    assert world.platform.get_balance(physical.member_id).pending == pending  # the pending lots moved
    assert world.platform.get_member(virtual.member_id).card.state is CardState.BLOCKED
    assert world.platform.get_member(theirs.member_id).card.state is CardState.ACTIVE
    shown = world.summary.summary("c-1")
    assert shown.card is not None
    assert shown.card.number == physical.card.number
    assert shown.points is not None
    assert shown.points.balance + shown.points.pending == total


def test_one_unlinked_card_beside_another_web_accounts_card_is_attached(world: World) -> None:
    theirs = _joined_web_account(world, "c-2", "bob.two@example.com")
    stock = world.existing_member("store@example.com", mobile=MOBILE)
    world.sign_up("c-1", email="ann@example.com", join=False)

    outcome = _verify(world, "c-1")

    assert outcome.cards is None
    assert outcome.record.status is LoyaltyStatus.JOINED
    assert outcome.record.member_id == stock.member_id
    assert world.customers.linked_customer(member_id=theirs.member_id) == "c-2"


def test_only_other_web_accounts_cards_on_the_mobile_is_refused_and_recorded(world: World) -> None:
    two = _joined_web_account(world, "c-2", "bob.two@example.com")
    three = _joined_web_account(world, "c-3", "cat.three@example.com")
    world.sign_up("c-1", email="ann@example.com", join=False)

    with pytest.raises(errors.Refused) as caught:
        _verify(world, "c-1")

    assert caught.value.code == "already_linked"
    assert two.card.number not in str(caught.value)
    assert three.card.number not in str(caught.value)
    assert world.verifications.get_challenge("c-1", Purpose.PHONE_VERIFIED) is None
    assert world.status("c-1") is LoyaltyStatus.NOT_JOINED
    [incident] = world.errors.records.values()
    assert incident.category is ErrorCategory.ATTACH_ACCOUNT


def test_an_offered_card_taken_by_another_web_account_before_the_merge_is_not_merged(world: World) -> None:
    a = world.existing_member("a@example.com", mobile=MOBILE)
    b = world.existing_member("b@example.com", mobile=MOBILE)
    world.sign_up("c-1", email="ann@example.com", join=False)
    assert _verify(world, "c-1").cards is not None
    world.customers.link_member("c-9", b.member_id, b.card.number)  # attached elsewhere meanwhile

    with pytest.raises(errors.Refused) as caught:
        world.phone.merge("c-1", a.card.number, [b.card.number])

    assert caught.value.code == "already_linked"
    assert world.platform.get_member(b.member_id).card.state is CardState.ACTIVE
    assert world.customers.linked_customer(member_id=b.member_id) == "c-9"

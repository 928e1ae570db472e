"""A7 consent through the ordered profile sync, signup's first push (P3, P4), and A8 merges
for a customer already joined with one of the cards on their phone."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from loyalty_bridge import errors
from loyalty_bridge.models.domain import (
    CardState,
    Consents,
    LoyaltyStatus,
    Member,
    PlatformOrder,
    PlatformOrderLine,
)
from loyalty_bridge.models.messages import CONSENTS_UPDATE, Envelope
from loyalty_bridge.models.verification import Purpose
from loyalty_bridge.services.phone import PhoneOutcome
from tests.unit.membership.conftest import World

MOBILE = "+447700900123"


def _verify(world: World, customer_id: str = "c-1") -> PhoneOutcome:
    world.phone.start(customer_id, MOBILE)
    return world.phone.confirm(customer_id, world.last_sms_code())


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


# ---------------------------------------------------------------- A7 consent, in order


def test_phone_consent_is_queued_like_any_consent_change_and_reaches_every_target(world: World) -> None:
    world.sign_up("c-1", join=False, consents={"email": True, "sms": False})
    world.run_sync()  # the signup push: the customer is on Mailchimp, no mobile yet

    record = _verify(world).record

    change, joined = [Envelope.model_validate_json(m.body) for m in world.sync_queue.messages]
    assert (change.kind, joined.kind) == (CONSENTS_UPDATE, "profile.snapshot")
    assert change.version == record.version - 1  # the consent write; the join came after it
    assert change.payload["after"] == {"mobile": MOBILE, "consent_sms": True}
    assert change.payload["source"] == "phone"
    assert record.terms_accepted_at == world.clock()
    world.sms_optouts.opted_out[MOBILE] = "c-1"  # e.g. an earlier opt-out of this number
    world.run_sync()

    member = world.platform.get_member(record.member_id or "")
    assert member.consents == Consents(email=True, sms=True)
    assert world.sms_optouts.is_opted_out(MOBILE) is False
    # The phone consent never sets Mailchimp's email status by itself.
    assert all(u.subscribed is None for u in world.mailchimp.upserts)


def test_an_opt_out_saved_after_the_phone_code_wins_everywhere(world: World) -> None:
    world.sign_up("c-1", join=False)
    record = _verify(world).record
    world.profile.set_consents("c-1", Consents(email=False, sms=False))

    world.run_sync()

    assert world.platform.get_member(record.member_id or "").consents == Consents(email=False, sms=False)
    assert world.sms_optouts.is_opted_out(MOBILE) is True


# ---------------------------------------------------------------- signup's first push (P3, P4)


def test_signup_queues_a_first_push_with_the_consents_and_the_loyalty_flag(world: World) -> None:
    world.sign_up("c-1", email="Ann@Example.com", mobile=MOBILE, consents={"email": True, "sms": False})
    [snapshot] = [Envelope.model_validate_json(m.body) for m in world.sync_queue.messages]
    assert snapshot.kind == "profile.snapshot"
    # Not for the platform (the join queues its own push); for the SMS list: a phone is known.
    assert snapshot.payload["targets"] == ["mailchimp", "sms"]

    world.run_sync()

    member = world.mailchimp.members["ann@example.com"]
    assert member["status"] == "subscribed"
    assert member["merge"]["LOYALTY"] == "no"  # pending: not a member yet
    assert world.sms_optouts.is_opted_out(MOBILE) is True  # no SMS consent given
    world.run_worker()
    world.run_sync()
    assert world.mailchimp.members["ann@example.com"]["merge"]["LOYALTY"] == "yes"


def test_a_signup_without_a_phone_pushes_to_mailchimp_alone(world: World) -> None:
    world.sign_up("c-2", email="bo@example.com", consents={"email": True, "sms": False})
    [snapshot] = [Envelope.model_validate_json(m.body) for m in world.sync_queue.messages]
    assert snapshot.payload["targets"] == ["mailchimp"]

    world.run_sync()

    assert world.mailchimp.members["bo@example.com"]["status"] == "subscribed"
    assert world.sms_optouts.opted_out == {}


def test_a_customer_without_email_consent_is_added_unsubscribed(world: World) -> None:
    world.sign_up("c-1", join=False, consents={"email": False, "sms": True}, mobile=MOBILE)
    world.run_sync()
    assert world.mailchimp.members["ann@example.com"]["status"] == "unsubscribed"
    assert world.mailchimp.members["ann@example.com"]["merge"]["LOYALTY"] == "no"
    assert world.sms_optouts.is_opted_out(MOBILE) is False


def test_signup_stands_when_the_sync_queue_is_down_and_the_push_waits_for_a_replay(world: World) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise errors.Retryable("sqs down")

    world.sync_queue.send = broken  # type: ignore[method-assign]
    record = world.sign_up("c-1")

    assert record.status is LoyaltyStatus.PENDING
    [incident] = world.errors.records.values()
    assert incident.replay["queue"] == "profile_sync"
    assert incident.replay["body"]["kind"] == "profile.snapshot"


# ---------------------------------------------------------------- A8 for a joined customer


@pytest.fixture
def joined_with_a_card_on_the_phone(world: World) -> tuple[Member, Member]:
    """c-1 joined with card A (attached by email); A and B are both on the customer's mobile."""
    a = world.existing_member("ann@example.com", mobile=MOBILE)
    b = world.existing_member("ann.shop@example.com", mobile=MOBILE, key="b")
    _earn(world, a, "100", "o-a")
    _earn(world, b, "50", "o-b")
    world.sign_up("c-1", join=False)
    world.attach.start("c-1", a.card.number, "ann@example.com")
    world.attach.confirm("c-1", world.last_code("ann@example.com"))
    assert world.customers.records["c-1"].member_id == a.member_id
    return a, b


def test_a_joined_customer_with_other_cards_on_the_phone_is_offered_the_choice(
    world: World, joined_with_a_card_on_the_phone: tuple[Member, Member]
) -> None:
    a, b = joined_with_a_card_on_the_phone
    outcome = _verify(world)
    assert outcome.cards is not None
    assert sorted(c.number for c in outcome.cards) == sorted([a.card.number, b.card.number])
    assert outcome.record.member_id == a.member_id


def test_merging_into_the_linked_card_keeps_the_link(
    world: World, joined_with_a_card_on_the_phone: tuple[Member, Member]
) -> None:
    a, b = joined_with_a_card_on_the_phone
    total = _points(world, a.member_id) + _points(world, b.member_id)
    assert total > 0
    _verify(world)

    record = world.phone.merge("c-1", a.card.number, [b.card.number])

    assert (record.member_id, record.card_number) == (a.member_id, a.card.number)
    assert world.platform.get_member(b.member_id).card.state is CardState.BLOCKED
    assert _points(world, a.member_id) == total
    assert world.customers.linked_customer(member_id=a.member_id) == "c-1"


def test_merging_into_another_card_moves_the_link_to_the_primary(
    world: World, joined_with_a_card_on_the_phone: tuple[Member, Member]
) -> None:
    a, b = joined_with_a_card_on_the_phone
    total = _points(world, a.member_id) + _points(world, b.member_id)
    _verify(world)
    world.sync_queue.drain()

    record = world.phone.merge("c-1", b.card.number, [a.card.number])

    assert record.status is LoyaltyStatus.JOINED
    assert (record.member_id, record.card_number) == (b.member_id, b.card.number)
    assert world.platform.get_member(a.member_id).card.state is CardState.BLOCKED
    assert _points(world, b.member_id) == total
    assert world.customers.linked_customer(member_id=b.member_id) == "c-1"
    assert world.customers.linked_customer(card_number=b.card.number) == "c-1"
    assert world.customers.linked_customer(member_id=a.member_id) is None
    assert world.verifications.get_challenge("c-1", Purpose.PHONE_VERIFIED) is None
    summary = world.summary.summary("c-1")
    assert summary.card is not None
    assert summary.card.number == b.card.number
    # The new primary account gets the customer's details through the profile sync.
    assert [Envelope.model_validate_json(m.body).kind for m in world.sync_queue.messages] == [
        "profile.snapshot"
    ]


def test_a_merge_that_leaves_the_linked_card_out_is_refused(
    world: World, joined_with_a_card_on_the_phone: tuple[Member, Member]
) -> None:
    a, b = joined_with_a_card_on_the_phone
    c = world.existing_member("ann.third@example.com", mobile=MOBILE, key="c")
    _verify(world)

    with pytest.raises(errors.Refused) as caught:
        world.phone.merge("c-1", b.card.number, [c.card.number])

    assert caught.value.code == "current_card_not_chosen"
    assert world.platform.get_member(c.member_id).card.state is CardState.ACTIVE
    assert world.customers.records["c-1"].member_id == a.member_id


def test_a_merge_repeated_after_a_half_done_relink_finishes_it(
    world: World, joined_with_a_card_on_the_phone: tuple[Member, Member]
) -> None:
    a, b = joined_with_a_card_on_the_phone
    _verify(world)
    # The platform merged and the claims moved, but the record write was lost (e.g. a timeout).
    world.platform.merge_cards(
        b.card.number, [a.card.number], idempotency_key=f"merge:c-1:{b.card.number}:{a.card.number}"
    )
    world.customers.relink_member(
        "c-1",
        from_member_id=a.member_id,
        from_card=a.card.number,
        to_member_id=b.member_id,
        to_card=b.card.number,
    )

    record = world.phone.merge("c-1", b.card.number, [a.card.number])

    assert record.member_id == b.member_id
    assert world.customers.linked_customer(member_id=b.member_id) == "c-1"

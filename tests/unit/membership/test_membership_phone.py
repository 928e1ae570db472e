"""Phone code (A7): join or attach by mobile, consent recorded; several cards (A8): merge."""

from __future__ import annotations

import pytest

from loyalty_bridge import errors
from loyalty_bridge.models.domain import CardState, LoyaltyStatus
from loyalty_bridge.models.records import ErrorCategory
from loyalty_bridge.models.verification import Purpose
from loyalty_bridge.services.phone import PhoneOutcome
from tests.unit.membership.conftest import World

MOBILE = "+447700900123"


def _verify(world: World, customer_id: str = "c-1") -> PhoneOutcome:
    world.phone.start(customer_id, MOBILE)
    [sms] = world.sms.sent[-1:]
    assert sms.to == MOBILE
    return world.phone.confirm(customer_id, world.last_sms_code())


def test_phone_code_joins_a_new_member_and_records_consent(world: World) -> None:
    world.sign_up("c-1", join=False)
    outcome = _verify(world)
    record = outcome.record
    assert outcome.cards is None
    assert record.status is LoyaltyStatus.JOINED
    assert record.mobile == MOBILE
    assert record.consents.sms is True
    assert record.terms_accepted_at == world.clock()
    member = world.platform.get_member(record.member_id or "")
    assert member.profile.mobile == MOBILE
    assert member.consents.sms is True


def test_phone_code_attaches_the_one_account_on_that_mobile(world: World) -> None:
    existing = world.existing_member("ann.shop@example.com", mobile=MOBILE)
    world.sign_up("c-1", join=False)
    record = _verify(world).record
    assert record.status is LoyaltyStatus.JOINED
    assert record.member_id == existing.member_id
    world.run_sync()  # the consent travels through the ordered profile sync
    assert world.platform.get_member(existing.member_id).consents.sms is True


def test_a_wrong_sms_code_is_refused_and_tries_are_limited(world: World) -> None:
    world.sign_up("c-1", join=False)
    world.phone.start("c-1", MOBILE)
    right = world.last_sms_code()
    wrong = "0000" if right != "0000" else "1111"
    for _ in range(5):
        with pytest.raises(errors.Refused):
            world.phone.confirm("c-1", wrong)
    with pytest.raises(errors.Refused):
        world.phone.confirm("c-1", right)
    assert world.status("c-1") is LoyaltyStatus.NOT_JOINED


def test_phone_codes_are_rate_limited_per_mobile(world: World) -> None:
    for index in range(5):
        world.sign_up(f"c-{index}", email=f"p{index}@example.com", join=False)
        world.phone.start(f"c-{index}", MOBILE)
    world.sign_up("c-9", email="p9@example.com", join=False)
    with pytest.raises(errors.TooManyRequests):
        world.phone.start("c-9", MOBILE)


def test_a_refused_phone_join_is_clear_to_the_customer_and_recorded(world: World) -> None:
    world.existing_member("ann@example.com")  # the email has an account, without this mobile
    world.sign_up("c-1", join=False)
    with pytest.raises(errors.Refused) as caught:
        _verify(world)
    assert caught.value.code == "join_refused"
    assert world.status("c-1") is LoyaltyStatus.NOT_JOINED
    [incident] = world.errors.records.values()
    assert incident.category is ErrorCategory.NEW_ACCOUNT


def test_several_cards_on_one_mobile_are_listed_then_merged_into_the_primary(world: World) -> None:
    a = world.existing_member("ann.a@example.com", mobile=MOBILE)
    b = world.existing_member("ann.b@example.com", mobile=MOBILE)
    world.sign_up("c-1", join=False)
    outcome = _verify(world)
    cards = outcome.cards
    assert cards is not None
    assert sorted(c.number for c in cards) == sorted([a.card.number, b.card.number])
    record = world.phone.merge("c-1", a.card.number, [b.card.number])
    assert record.status is LoyaltyStatus.JOINED
    assert record.card_number == a.card.number
    assert world.platform.get_member(b.member_id).card.state is CardState.BLOCKED
    assert world.verifications.get_challenge("c-1", Purpose.PHONE_VERIFIED) is None


def test_merge_needs_a_verified_mobile_and_only_its_cards(world: World) -> None:
    a = world.existing_member("ann.a@example.com", mobile=MOBILE)
    b = world.existing_member("ann.b@example.com", mobile=MOBILE)
    stranger = world.existing_member("x@example.com", mobile="+447700900999")
    world.sign_up("c-1", join=False)
    with pytest.raises(errors.Refused) as caught:
        world.phone.merge("c-1", a.card.number, [b.card.number])
    assert caught.value.code == "phone_not_verified"
    _verify(world)
    with pytest.raises(errors.Refused) as caught:
        world.phone.merge("c-1", a.card.number, [stranger.card.number])
    assert caught.value.code == "cards_not_on_phone"
    assert world.platform.get_member(stranger.member_id).card.state is CardState.ACTIVE


def test_a_mobile_account_held_by_another_web_account_is_refused_and_recorded(world: World) -> None:
    existing = world.existing_member("ann.shop@example.com", mobile=MOBILE)
    world.customers.link_member("c-other", existing.member_id, existing.card.number)
    world.sign_up("c-1", join=False)
    with pytest.raises(errors.Refused) as caught:
        _verify(world)
    assert caught.value.code == "already_linked"
    assert world.customers.linked_customer(member_id=existing.member_id) == "c-other"
    [incident] = world.errors.records.values()
    assert incident.category is ErrorCategory.ATTACH_ACCOUNT


def test_a_joined_customer_confirming_a_phone_only_records_consent(world: World) -> None:
    world.sign_up("c-1")
    world.run_worker()
    record = _verify(world).record
    assert record.status is LoyaltyStatus.JOINED
    assert record.consents.sms is True
    world.run_sync()
    assert world.platform.get_member(record.member_id or "").consents.sms is True

"""The LoyaltyPlatform contract for card stock (seed 000) and the profile read (seed 002),
on every implementation (ledger, in-memory fake, REST adapter over the fake platform)."""

from __future__ import annotations

import json
from datetime import date

import pytest

from loyalty_bridge.errors import MemberNotFound
from loyalty_bridge.models.domain import CardKind, CardState, Consents, MemberProfile
from loyalty_bridge.program import card_numbers
from tests.contract.conftest import MakePlatform
from tests.contract.harness import PlatformHarness


def printed(prefix: str = "61") -> str:
    return card_numbers.new_virtual_number(prefix=prefix, length=16)


def broken_check_digit(number: str) -> str:
    return number[:-1] + str((int(number[-1]) + 1) % 10)


def test_imported_cards_are_unregistered_and_a_repeat_imports_nothing(platform: PlatformHarness) -> None:
    p = platform.platform
    cards = [printed() for _ in range(150)]  # more than one write chunk
    first = p.import_cards("b-1", cards)
    assert (first.batch_id, first.imported, first.already_known, first.invalid) == ("b-1", 150, 0, [])
    again = p.import_cards("b-1", cards)
    assert (again.imported, again.already_known, again.invalid_count) == (0, 150, 0)
    other_batch = p.import_cards("b-2", [*cards[:2], printed()])
    assert (other_batch.imported, other_batch.already_known) == (1, 2)


def test_invalid_numbers_are_answered_with_their_reason_and_do_not_stop_the_others(
    platform: PlatformHarness,
) -> None:
    good = printed()
    answer = platform.platform.import_cards(
        "b-bad", [good, broken_check_digit(printed()), "1234", "12ab5678", f"{good[:4]} {good[4:]}"]
    )
    assert (answer.imported, answer.already_known, answer.invalid_count) == (1, 0, 4)
    assert [item.reason for item in answer.invalid] == [
        "check_digit",
        "length",
        "not_a_number",
        "duplicate_in_file",
    ]


def test_a_registered_card_is_never_reset_by_an_import(platform: PlatformHarness) -> None:
    p = platform.platform
    card = printed()
    p.import_cards("b-1", [card])
    member = p.attach_card(card, MemberProfile(email="ann@example.com"), idempotency_key="attach-1")
    assert (member.card.kind, member.card.state) == (CardKind.PHYSICAL, CardState.ACTIVE)
    answer = p.import_cards("b-1", [card, member.card.number])
    assert (answer.imported, answer.already_known) == (0, 1)
    assert answer.invalid_count == 1  # the same number twice in one request
    [found] = p.find_members(card_number=card)
    assert found.member_id == member.member_id
    assert found.card.state is CardState.ACTIVE


def test_an_imported_card_attached_takes_the_persons_details(platform: PlatformHarness) -> None:
    p = platform.platform
    card = printed()
    p.import_cards("b-1", [card])
    person = MemberProfile(email="bo@example.com", first_name="Bo", mobile="+447700900123")
    member = p.attach_card(card, person, idempotency_key="attach-bo")
    assert member.card.number == card
    assert member.profile.first_name == "Bo"
    assert p.get_member(member.member_id).profile.mobile == "+447700900123"


@pytest.mark.parametrize("required", [["mobile", "birthday", "address"], []])
def test_the_profile_read_answers_what_the_account_holds_and_what_is_missing(
    make_platform: MakePlatform, required: list[str]
) -> None:
    h = make_platform(earn_rules_json=json.dumps({"required_profile_fields": required}))
    person = MemberProfile(
        email="cy@example.com",
        first_name="Cy",
        last_name="Ng",
        mobile="+447700900222",
        birthday=date(1990, 5, 17),
    )
    member = h.platform.create_member(person, Consents(), idempotency_key="join-cy")
    read = h.platform.member_profile(member.member_id)
    assert read.member_id == member.member_id
    assert read.profile == person
    assert read.missing_fields == (["address"] if required else [])
    with pytest.raises(MemberNotFound):
        h.platform.member_profile("no-such-member")

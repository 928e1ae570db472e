"""Erasure on every platform (D2, GDPR Art. 17; port ``erase_member``, REST ``eraseMember``
``DELETE /v1/members/{member_id}``): the person goes, the points stay under the member id,
the email can join again as a new member, a repeat changes nothing."""

from __future__ import annotations

from datetime import date

from loyalty_bridge.models.domain import Address, Consents, MemberProfile
from tests.contract.harness import PlatformHarness, require
from tests.contract.test_platform_contract import earn_points


def person(email: str = "erin@example.com") -> MemberProfile:
    return MemberProfile(
        email=email,
        first_name="Erin",
        last_name="Vale",
        mobile="+447700900123",
        birthday=date(1990, 2, 3),
        address=Address(line1="1 Elm Row", city="Leeds", postal_code="LS1 1AA", country="GB"),
    )


def test_an_erased_member_keeps_its_points_and_loses_the_person(platform: PlatformHarness) -> None:
    require(platform, "erase")
    p = platform.platform
    member = p.create_member(person(), Consents(email=True, sms=True), idempotency_key="join:erin")
    earn_points(platform, member, 120)
    before = p.get_balance(member.member_id)

    p.erase_member(member.member_id, idempotency_key=f"erase:{member.member_id}")

    assert p.find_members(email="erin@example.com") == []
    assert p.find_members(mobile="+447700900123") == []
    after = p.get_balance(member.member_id)
    assert (after.balance, after.pending, after.held) == (before.balance, before.pending, before.held)
    kept = p.get_member(member.member_id)
    text = kept.model_dump_json().lower()
    assert not [v for v in ("erin", "vale", "+447700900123", "1990-02-03", "elm row", "leeds") if v in text]
    assert kept.consents == Consents(email=False, sms=False)
    if platform.entries_total is not None:
        assert platform.entries_total(member.member_id) == before.balance + before.pending + before.held


def test_erasing_twice_or_an_unknown_member_changes_nothing(platform: PlatformHarness) -> None:
    require(platform, "erase")
    p = platform.platform
    member = p.create_member(person(), Consents(), idempotency_key="join:erin")
    p.erase_member(member.member_id, idempotency_key="erase:1")
    once = p.get_member(member.member_id)
    p.erase_member(member.member_id, idempotency_key="erase:2")
    p.erase_member("no-such-member", idempotency_key="erase:3")
    assert p.get_member(member.member_id) == once


def test_the_email_of_an_erased_member_joins_again_as_a_new_member(platform: PlatformHarness) -> None:
    require(platform, "erase")
    p = platform.platform
    first = p.create_member(person(), Consents(), idempotency_key="join:erin")
    earn_points(platform, first, 50)
    p.erase_member(first.member_id, idempotency_key="erase:1")

    again = p.create_member(person("ERIN@example.com"), Consents(), idempotency_key="join:erin-again")

    assert again.member_id != first.member_id
    assert p.find_members(email="erin@example.com") == [again]
    assert p.get_balance(again.member_id).balance == 0
    assert p.get_balance(first.member_id).balance == 50

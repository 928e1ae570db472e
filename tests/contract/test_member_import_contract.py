"""The LoyaltyPlatform contract for the member import (seed 002), on every implementation
that offers it (the built-in ledger, the in-memory platform); the REST and Talon.One
adapters refuse it as not offered. Lines go through services/member_import.py as the route
and the bucket import send them."""

from __future__ import annotations

from datetime import date

import pytest

from loyalty_bridge import errors
from loyalty_bridge.models.domain import (
    ActivityKind,
    CardKind,
    CardState,
    Consents,
    MemberProfile,
    ProfileChanges,
)
from loyalty_bridge.program import card_numbers
from loyalty_bridge.services.member_import import MemberImport
from tests.contract.conftest import MakePlatform
from tests.contract.harness import PlatformHarness, require, requires

HEADER = "card_number,mobile,email,first_name,last_name,birthday,balance,lots,lifetime_spend,source_program"


def printed() -> str:
    return card_numbers.new_virtual_number(prefix="62", length=16)


def csv_of(*rows: str) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


def test_each_line_becomes_an_unlinked_member_and_a_repeated_file_changes_nothing(
    platform: PlatformHarness,
) -> None:
    require(platform, "member_import")
    p = platform.platform
    a, b = printed(), printed()
    text = csv_of(
        f"{a},+49 170 1111111,ann@example.com,Ann,Lee,1980-02-03,150,"
        "100@2025-03-31;20@2025-06-30,420.50,Old Club",
        f"{b},,,,,,0,,,",
    )
    importer = MemberImport(p)

    first = importer.import_text("file-1", "csv", text)
    again_same_import = importer.import_text("file-1", "csv", text)
    again = importer.import_text("file-2", "csv", text)

    assert [(o.line, o.outcome) for o in first.outcomes] == [(2, "created"), (3, "created")]
    assert [o.outcome for o in again_same_import.outcomes] == ["created", "created"]  # a retried chunk
    assert (again.created, again.already_there, again.refused) == (0, 2, 0)
    member = p.find_members(card_number=a)[0]
    assert (member.card.kind, member.card.state) == (CardKind.PHYSICAL, CardState.ACTIVE)
    assert member.profile == MemberProfile(
        email="ann@example.com",
        first_name="Ann",
        last_name="Lee",
        mobile="+491701111111",
        birthday=date(1980, 2, 3),
    )
    assert p.find_members(mobile="+491701111111") == [member]
    balance = p.get_balance(member.member_id)
    assert (balance.balance, balance.lifetime_spend) == (150, 420.50)
    assert (balance.next_expiry_points, balance.next_expiry_on) == (100, date(2025, 3, 31))
    blank = p.find_members(card_number=b)[0]
    assert (blank.profile.email, blank.profile.mobile, p.get_balance(blank.member_id).balance) == (
        "",
        None,
        0,
    )


def test_bad_lines_are_refused_with_their_reason_and_never_stop_the_good_ones(
    platform: PlatformHarness,
) -> None:
    require(platform, "member_import")
    p = platform.platform
    web = p.create_member(MemberProfile(email="web@example.com"), Consents(), idempotency_key="web-1")
    good, dup, taken = printed(), printed(), printed()
    text = csv_of(
        f"{good},,,,,,10,,,",
        f"{good[:-1]}{(int(good[-1]) + 1) % 10},,,,,,10,,,",
        f"{dup},,,,,,5,,,",
        f"{dup},,,,,,5,,,",
        f"{printed()},12345,,,,,10,,,",
        f"{printed()},,,,,,-3,,,",
        f"{printed()},,,,,,10,20@2025-05-01,,",
        f"{printed()},,not-an-email,,,,10,,,",
        f"{taken},,WEB@example.com,,,,10,,,",
        f"{web.card.number},,,,,,10,,,",
        f"{printed()},,,,,1980-13-01,10,,,",
    )

    answer = MemberImport(p).import_text("bad", "csv", text)

    assert [(o.line, o.outcome, o.reason) for o in answer.outcomes] == [
        (2, "created", None),
        (3, "refused", "bad_check_digit"),
        (4, "created", None),
        (5, "refused", "duplicate_card"),
        (6, "refused", "bad_mobile"),
        (7, "refused", "negative_balance"),
        (8, "refused", "bad_lots"),
        (9, "refused", "bad_email"),
        (10, "refused", "email_in_use"),
        (11, "refused", "card_in_use"),
        (12, "refused", "bad_field"),
    ]
    assert p.get_balance(web.member_id).balance == 0  # the web member's card is left as it is
    # The card of the email_in_use line is no card at all afterwards: fixed, the line imports.
    assert p.find_members(card_number=taken) == []
    fixed = MemberImport(p).import_text("fixed", "csv", csv_of(f"{taken},,other@example.com,,,,10,,,"))
    assert [o.outcome for o in fixed.outcomes] == ["created"]


def test_a_stock_card_is_registered_to_the_imported_member(platform: PlatformHarness) -> None:
    require(platform, "member_import")
    p = platform.platform
    number = printed()
    assert platform.import_physical_cards([number]) == 1
    p.create_member(MemberProfile(email="held@example.com"), Consents(), idempotency_key="held-1")
    refused = MemberImport(p).import_text(
        "stock-0", "jsonl", f'{{"card_number": "{number}", "email": "held@example.com", "balance": 3}}\n'
    )
    assert [o.reason for o in refused.outcomes] == ["email_in_use"]
    assert p.find_members(card_number=number) == []  # the refused line left the card in the stock
    answer = MemberImport(p).import_text("stock", "jsonl", f'{{"card_number": "{number}", "balance": 7}}\n')
    assert [o.outcome for o in answer.outcomes] == ["created"]
    assert p.get_balance(p.find_members(card_number=number)[0].member_id).balance == 7


def test_imported_lots_expire_on_their_own_dates_whatever_the_program_says(platform: PlatformHarness) -> None:
    require(platform, "member_import")
    p = platform.platform
    number = printed()
    MemberImport(p).import_text("lots", "csv", csv_of(f"{number},,,,,,100,30@2025-02-01;50@2025-03-01,,"))
    member_id = p.find_members(card_number=number)[0].member_id
    platform.clock.advance(days=17)  # 2025-02-01 12:00: the first lot is due
    assert p.get_balance(member_id).balance == 70
    platform.clock.advance(days=30)
    balance = p.get_balance(member_id)
    assert (balance.balance, balance.next_expiry_on) == (20, None)  # 20 untracked points never expire


def test_the_opening_balance_counts_as_opening_never_as_earned(platform: PlatformHarness) -> None:
    requires(platform, "member_import", "stats", "activity")
    p = platform.platform
    number = printed()
    MemberImport(p).import_text("stats", "csv", csv_of(f"{number},,,,,,250,,,Old Club"))
    today = platform.clock().date()
    totals = p.stats(None, today, today).totals
    assert (totals.opening, totals.points_earned, totals.new_members) == (250, 0, 0)
    member_id = p.find_members(card_number=number)[0].member_id
    [entry] = p.activity(member_id).entries
    assert (entry.kind, entry.points_in, entry.balance_after) == (ActivityKind.OPENING, 250, 250)


def test_imported_cards_on_one_mobile_merge_into_a_primary(platform: PlatformHarness) -> None:
    requires(platform, "member_import", "merge_cards")
    p = platform.platform
    cards = [printed() for _ in range(3)]
    rows = [
        f"{c},+491702222222,,,,,{points},10@2025-04-01,,S"
        for c, points in zip(cards, (100, 40, 60), strict=True)
    ]
    MemberImport(p).import_text("merge", "csv", csv_of(*rows))
    merged = p.merge_cards(cards[0], cards[1:], idempotency_key="m-1")
    balance = p.get_balance(merged.member_id)
    assert (balance.balance, balance.next_expiry_points, balance.next_expiry_on) == (
        200,
        30,
        date(2025, 4, 1),
    )
    assert [m.card.state for m in (p.find_members(card_number=c)[0] for c in cards[1:])] == [
        CardState.BLOCKED
    ] * 2


def test_platforms_without_a_member_import_refuse_it_as_not_offered(make_platform: MakePlatform) -> None:
    h = make_platform()
    if h.capabilities is None or "member_import" in h.capabilities:
        pytest.skip(f"{h.name} offers the member import")
    with pytest.raises(errors.PlatformRefused) as refused:
        MemberImport(h.platform).import_text("x", "csv", csv_of(f"{printed()},,,,,,1,,,"))
    assert refused.value.code == "not_supported_by_platform"


def test_an_imported_member_without_an_email_takes_profile_changes_and_later_one(
    platform: PlatformHarness,
) -> None:
    require(platform, "member_import")
    p = platform.platform
    number = printed()
    MemberImport(p).import_text("no-email", "csv", csv_of(f"{number},,,Ida,,,5,,,"))
    member_id = p.find_members(card_number=number)[0].member_id
    p.update_profile(member_id, ProfileChanges(last_name="Moss"), idempotency_key="u-1")
    p.update_profile(member_id, ProfileChanges(email="ida@example.com"), idempotency_key="u-2")
    assert p.find_members(email="ida@example.com")[0].profile.last_name == "Moss"

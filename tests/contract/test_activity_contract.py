"""The LoyaltyPlatform contract for adjustments (R7), the history (R8) and the daily
statistics (R6), on every implementation (ledger, in-memory fake, REST over the fake).

A platform may lack the ``adjust``, ``activity`` or ``stats`` capability (harness ``capabilities``);
one that keeps no history answers ``available=False``, one that counts no statistics too.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest

from loyalty_bridge.errors import BridgeError, InsufficientPoints, InvalidInput, PlatformRefused
from loyalty_bridge.models.activity import ActivityEntry, Adjustment
from loyalty_bridge.models.domain import ActivityKind, Reversal
from tests.contract.conftest import MakePlatform
from tests.contract.harness import PlatformHarness, requires
from tests.contract.test_platform_contract import earn_points, join, order


def adjustment(adjustment_id: str, points: int, **extra: str) -> Adjustment:
    return Adjustment(adjustment_id=adjustment_id, points=points, reason="goodwill", **extra)


def every_entry(h: PlatformHarness, member_id: str, limit: int = 20) -> list[ActivityEntry]:
    found: list[ActivityEntry] = []
    cursor: str | None = None
    while True:
        page = h.platform.activity(member_id, limit=limit, cursor=cursor)
        assert page.available
        assert len(page.entries) <= limit
        found.extend(page.entries)
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


def test_credit_debit_and_a_debit_below_zero_refused(platform: PlatformHarness) -> None:
    requires(platform, "adjust")
    p = platform.platform
    member = join(platform)
    credited = p.adjust(member.member_id, adjustment("a-1", 50, staff_id="st-1", store_id="S1"))
    assert (credited.adjustment_id, credited.points, credited.balance) == ("a-1", 50, 50)
    debited = p.adjust(member.member_id, adjustment("a-2", -30))
    assert (debited.points, debited.balance) == (-30, 20)
    with pytest.raises(InsufficientPoints):
        p.adjust(member.member_id, adjustment("a-3", -1000))
    assert p.get_balance(member.member_id).balance == 20
    # The refused one wrote nothing: its id is still free and acts when it fits.
    assert p.adjust(member.member_id, adjustment("a-3", -20)).balance == 0


def test_a_replayed_adjustment_changes_nothing_and_answers_the_first_result(
    platform: PlatformHarness,
) -> None:
    requires(platform, "adjust")
    p = platform.platform
    member = join(platform)
    first = p.adjust(member.member_id, adjustment("a-1", 40))
    again = p.adjust(member.member_id, adjustment("a-1", 40))
    assert again == first
    assert p.get_balance(member.member_id).balance == 40
    other = join(platform, "bo@example.com")
    with pytest.raises(BridgeError) as refused:
        p.adjust(other.member_id, adjustment("a-1", 40))
    assert refused.value.code == "adjustment_id_in_use"
    assert p.get_balance(other.member_id).balance == 0


def test_a_debit_never_touches_held_points(platform: PlatformHarness) -> None:
    requires(platform, "adjust")
    p = platform.platform
    member = join(platform)
    earn_points(platform, member, 100)
    expires = platform.clock() + timedelta(minutes=30)
    p.hold_points(member.member_id, "r-1", 60, order_total=Decimal("500"), expires_at=expires)
    with pytest.raises(InsufficientPoints):
        p.adjust(member.member_id, adjustment("a-1", -41))
    assert p.adjust(member.member_id, adjustment("a-2", -40)).balance == 60
    balance = p.get_balance(member.member_id)
    assert (balance.balance, balance.held, balance.available) == (60, 60, 0)
    result = p.post_order(
        member.member_id, order("o-1", ("A", 1, "10"), when=platform, discount="0.6", redemption_id="r-1")
    )
    assert result.points_redeemed == 60  # the hold stayed whole


def test_credited_points_expire_like_earned_points(make_platform: MakePlatform) -> None:
    h = make_platform(earn_rules_json=json.dumps({"expiry_months": 12}))
    requires(h, "adjust")
    member = join(h)
    h.platform.adjust(member.member_id, adjustment("a-1", 50))
    balance = h.platform.get_balance(member.member_id)
    assert balance.next_expiry_points == 50
    assert balance.next_expiry_on == date(2026, 1, 15)  # the harness clock starts on 2025-01-15
    h.clock.advance(days=366)
    assert h.platform.get_balance(member.member_id).balance == 0


def test_the_history_names_each_movement_newest_first(platform: PlatformHarness) -> None:
    requires(platform, "adjust", "activity")
    p = platform.platform
    member = join(platform)
    p.post_order(member.member_id, order("o-1", ("A", 1, "39"), when=platform, store_id="S1"))
    platform.clock.advance(seconds=1)
    p.adjust(member.member_id, adjustment("a-1", 50, staff_id="st-1", store_id="S2"))
    platform.clock.advance(seconds=1)
    p.reverse(member.member_id, Reversal(reversal_id="rf-1", order_id="o-1", lines=[("A", 1)]))
    platform.clock.advance(seconds=1)
    p.adjust(member.member_id, adjustment("a-2", -30, staff_id="st-1", store_id="S2"))
    page = p.activity(member.member_id, limit=10)
    if not page.available:
        assert page.entries == []
        pytest.skip(f"{platform.name} keeps no history")
    shown = [(e.kind, e.points, e.balance_after) for e in page.entries]
    assert shown == [
        (ActivityKind.ADJUSTED, -30, 20),
        (ActivityKind.REVERSED, -39, 50),
        (ActivityKind.ADJUSTED, 50, 89),
        (ActivityKind.EARNED, 39, 39),
    ]
    debit, refund, credit, earned = page.entries
    assert (debit.staff_id, debit.store_id) == ("st-1", "S2")
    assert (refund.order_id, refund.refund_id, refund.store_id) == ("o-1", "rf-1", "S1")
    assert earned.description == "Order o-1: 39 points earned"
    assert credit.description == "50 points added by the store"
    assert debit.description == "30 points deducted by the store"
    assert refund.description == "Order o-1 refund rf-1: 39 points taken back"
    assert len({e.entry_id for e in page.entries}) == 4
    assert page.next_cursor is None


def test_the_history_pages_through_every_entry_exactly_once(platform: PlatformHarness) -> None:
    requires(platform, "adjust", "activity")
    p = platform.platform
    member = join(platform)
    for i in range(23):
        p.adjust(member.member_id, adjustment(f"a-{i:02d}", 1 + i))
        platform.clock.advance(seconds=1)
    found = every_entry(platform, member.member_id, limit=5)
    assert [e.points for e in found] == [1 + i for i in reversed(range(23))]
    assert len({e.entry_id for e in found}) == 23


@pytest.mark.parametrize("cursor", ["nope", "eyJ2IjoxLCJhZnRlciI6Ij8ifQ", "x" * 300])
def test_a_cursor_the_history_never_answered_is_refused(platform: PlatformHarness, cursor: str) -> None:
    requires(platform, "activity")
    member = join(platform)
    with pytest.raises((InvalidInput, PlatformRefused)) as refused:
        platform.platform.activity(member.member_id, limit=5, cursor=cursor)
    assert refused.value.code == "invalid_cursor"


def test_a_stores_stats_are_the_sum_of_its_entries(platform: PlatformHarness) -> None:
    requires(platform, "adjust", "stats")
    p = platform.platform
    ann, bo = join(platform), join(platform, "bo@example.com")
    p.post_order(ann.member_id, order("o-1", ("A", 1, "40"), when=platform, store_id="S1"))
    p.post_order(bo.member_id, order("o-2", ("A", 1, "25"), when=platform, store_id="S2"))
    p.post_order(bo.member_id, order("o-3", ("A", 2, "5"), when=platform, store_id="S1"))
    p.adjust(ann.member_id, adjustment("a-1", 15, store_id="S1"))
    p.adjust(bo.member_id, adjustment("a-2", -5, store_id="S2"))
    p.reverse(ann.member_id, Reversal(reversal_id="rf-1", order_id="o-1", lines=[("A", 1)]))
    today = platform.clock().date()
    s1 = p.stats("S1", today, today)
    if not s1.available:
        assert s1.days == []
        pytest.skip(f"{platform.name} counts no statistics")
    [day] = s1.days
    assert (day.day, day.orders, day.points_earned, day.points_reversed) == (today, 2, 50, 40)
    assert (day.points_adjusted, day.adjustments, day.new_members) == (15, 1, 0)
    [s2] = p.stats("S2", today, today).days
    assert (s2.orders, s2.points_earned, s2.points_adjusted) == (1, 25, -5)
    [whole] = p.stats(None, today - timedelta(days=3), today).days
    assert (whole.orders, whole.points_earned, whole.points_adjusted, whole.new_members) == (3, 75, 10, 2)
    assert p.stats(None, today - timedelta(days=3), today).totals == whole.model_copy(
        update={"day": today - timedelta(days=3)}
    )
    assert p.stats("S3", today, today).days == []


def test_stats_of_a_range_over_a_year_or_backwards_are_refused(platform: PlatformHarness) -> None:
    requires(platform, "stats")
    today = platform.clock().date()
    for start, end in ((today, today - timedelta(days=1)), (today - timedelta(days=366), today)):
        with pytest.raises(InvalidInput) as refused:
            platform.platform.stats(None, start, end)
        assert refused.value.code == "invalid_range"


def test_the_history_shows_redemptions_cancels_merges_and_expiry(make_platform: MakePlatform) -> None:
    h = make_platform(earn_rules_json=json.dumps({"expiry_months": 12}))
    requires(h, "activity")
    p = h.platform
    mobile = "+447700900077"
    ann, bo = join(h, "a@example.com", mobile), join(h, "b@example.com", mobile)
    earn_points(h, ann, 1000, "seed")
    h.clock.advance(seconds=1)
    expires = h.clock() + timedelta(minutes=30)
    p.hold_points(ann.member_id, "r-1", 600, order_total=Decimal("20"), expires_at=expires)
    p.post_order(ann.member_id, order("o-1", ("A", 1, "20"), when=h, discount="6", redemption_id="r-1"))
    h.clock.advance(seconds=1)
    p.reverse(ann.member_id, Reversal(reversal_id="cancel:o-1", order_id="o-1", cancel=True))
    h.clock.advance(seconds=1)
    earn_points(h, bo, 5, "o-bo")
    h.clock.advance(seconds=1)
    p.merge_cards(ann.card.number, [bo.card.number], idempotency_key="m-1")
    h.clock.advance(days=366)
    assert p.get_balance(ann.member_id).balance == 0  # everything credited a year ago expired
    page = p.activity(ann.member_id, limit=20)
    if not page.available:
        pytest.skip(f"{h.name} keeps no history")
    shown = [(e.kind, e.points_in, e.points_out, e.balance_after) for e in page.entries]
    assert shown == [
        (ActivityKind.EXPIRED, 0, 1005, 0),
        (ActivityKind.MERGED_IN, 5, 0, 1005),
        (ActivityKind.REVERSED, 600, 14, 1000),
        (ActivityKind.EARNED, 14, 600, 414),
        (ActivityKind.EARNED, 1000, 0, 1000),
    ]
    assert page.entries[3].description == "Order o-1: 14 points earned, 600 points redeemed"
    assert page.entries[3].redemption_id == "r-1"
    assert page.entries[2].description == "Order o-1 cancelled: 14 points taken back, 600 points given back"
    # A merged card's history is that of the account its points live with now (A8).
    assert p.activity(bo.member_id, limit=20).entries == page.entries


def test_the_history_of_orders_refunds_and_cancels_newest_first(platform: PlatformHarness) -> None:
    """R8 with no staff adjustment: what orders, refunds and cancels alone write."""
    requires(platform, "activity")
    p = platform.platform
    member = join(platform)
    p.post_order(member.member_id, order("o-1", ("A", 1, "30"), ("B", 1, "9"), when=platform, store_id="S1"))
    platform.clock.advance(seconds=1)
    p.reverse(member.member_id, Reversal(reversal_id="rf-1", order_id="o-1", lines=[("B", 1)]))
    platform.clock.advance(seconds=1)
    p.post_order(member.member_id, order("o-2", ("A", 1, "20"), when=platform))
    platform.clock.advance(seconds=1)
    p.reverse(member.member_id, Reversal(reversal_id="cancel:o-2", order_id="o-2", cancel=True))
    page = p.activity(member.member_id, limit=10)
    if not page.available:
        assert page.entries == []
        pytest.skip(f"{platform.name} keeps no history")
    shown = [(e.kind, e.points, e.balance_after, e.order_id, e.refund_id) for e in page.entries]
    assert shown == [
        (ActivityKind.REVERSED, -20, 30, "o-2", None),
        (ActivityKind.EARNED, 20, 50, "o-2", None),
        (ActivityKind.REVERSED, -9, 30, "o-1", "rf-1"),
        (ActivityKind.EARNED, 39, 39, "o-1", None),
    ]
    cancel, _, refund, earned = page.entries
    assert earned.store_id == refund.store_id == "S1"
    assert earned.description == "Order o-1: 39 points earned"
    assert refund.description == "Order o-1 refund rf-1: 9 points taken back"
    assert cancel.description == "Order o-2 cancelled: 20 points taken back"
    assert len({e.entry_id for e in page.entries}) == 4
    assert page.next_cursor is None


def test_the_history_of_a_redeeming_order_and_its_cancel(platform: PlatformHarness) -> None:
    requires(platform, "activity")
    p = platform.platform
    ann = join(platform)
    earn_points(platform, ann, 1000, "seed")
    platform.clock.advance(seconds=1)
    expires = platform.clock() + timedelta(minutes=30)
    p.hold_points(ann.member_id, "r-1", 600, order_total=Decimal("20"), expires_at=expires)
    p.post_order(
        ann.member_id, order("o-1", ("A", 1, "20"), when=platform, discount="6", redemption_id="r-1")
    )
    platform.clock.advance(seconds=1)
    p.reverse(ann.member_id, Reversal(reversal_id="cancel:o-1", order_id="o-1", cancel=True))
    page = p.activity(ann.member_id, limit=20)
    if not page.available:
        pytest.skip(f"{platform.name} keeps no history")
    shown = [(e.kind, e.points_in, e.points_out, e.balance_after) for e in page.entries]
    assert shown == [
        (ActivityKind.REVERSED, 600, 14, 1000),
        (ActivityKind.EARNED, 14, 600, 414),
        (ActivityKind.EARNED, 1000, 0, 1000),
    ]
    assert page.entries[1].description == "Order o-1: 14 points earned, 600 points redeemed"
    assert page.entries[1].redemption_id == "r-1"
    assert page.entries[0].description == "Order o-1 cancelled: 14 points taken back, 600 points given back"


def test_the_history_of_orders_pages_through_every_entry_exactly_once(platform: PlatformHarness) -> None:
    requires(platform, "activity")
    p = platform.platform
    member = join(platform)
    for i in range(11):
        p.post_order(member.member_id, order(f"o-{i:02d}", ("A", 1, str(1 + i)), when=platform))
        platform.clock.advance(seconds=1)
    if not p.activity(member.member_id, limit=1).available:
        pytest.skip(f"{platform.name} keeps no history")
    found = every_entry(platform, member.member_id, limit=4)
    assert [e.order_id for e in found] == [f"o-{i:02d}" for i in reversed(range(11))]
    assert [e.balance_after for e in found] == [sum(range(1, i + 2)) for i in reversed(range(11))]
    assert len({e.entry_id for e in found}) == 11

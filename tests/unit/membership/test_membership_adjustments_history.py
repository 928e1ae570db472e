"""Adjustments (R7), the history (R8) and stats (R6) as the services see them: the customer
and the store checked before the platform is called, the metric counted, the sentences and
the cursor of program/history.py."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from loyalty_bridge import errors
from loyalty_bridge.models.activity import Adjustment, StatsReport
from loyalty_bridge.models.domain import ActivityKind, Channel, Consents, LoyaltyStatus, MemberProfile
from loyalty_bridge.models.records import CustomerRecord
from loyalty_bridge.models.stores import PutStaff, PutStore, StaffRole
from loyalty_bridge.observability import MetricName
from loyalty_bridge.program import history, stats
from loyalty_bridge.services.adjustments import AdjustmentService
from loyalty_bridge.services.history import HistoryService, StatsService
from loyalty_bridge.services.stores import StoreDirectory
from tests.fake_platform import InMemoryPlatform
from tests.fakes import InMemoryCustomers, InMemoryStoreRegistry, RecordingMetrics


class World:
    def __init__(self) -> None:
        self.customers = InMemoryCustomers()
        self.platform = InMemoryPlatform()
        self.directory = StoreDirectory(InMemoryStoreRegistry())
        self.metrics = RecordingMetrics()
        self.adjustments = AdjustmentService(self.customers, self.platform, self.directory, self.metrics)
        self.history = HistoryService(self.customers, self.platform)

    def joined(self, customer_id: str = "c-1") -> str:
        member = self.platform.create_member(
            MemberProfile(email=f"{customer_id}@example.com"), Consents(), idempotency_key=customer_id
        )
        self.customers.create(
            CustomerRecord(
                customer_id=customer_id,
                email=f"{customer_id}@example.com",
                status=LoyaltyStatus.JOINED,
                member_id=member.member_id,
                card_number=member.card.number,
            )
        )
        return member.member_id


@pytest.fixture
def world() -> World:
    return World()


def test_an_adjustment_is_counted_and_answers_the_new_balance(world: World) -> None:
    world.joined()
    result = world.adjustments.adjust("c-1", Adjustment(adjustment_id="a-1", points=50, reason="goodwill"))
    assert (result.points, result.balance) == (50, 50)
    assert world.metrics.total(MetricName.ADJUSTMENTS) == 1


def test_unknown_and_unjoined_customers_are_refused_before_the_platform(world: World) -> None:
    body = Adjustment(adjustment_id="a-1", points=5, reason="x")
    with pytest.raises(errors.NotFound) as missing:
        world.adjustments.adjust("nobody", body)
    assert missing.value.code == "customer_not_found"
    world.customers.create(CustomerRecord(customer_id="c-2", email="c-2@example.com"))
    with pytest.raises(errors.Refused) as not_joined:
        world.adjustments.adjust("c-2", body)
    assert not_joined.value.code == "not_joined"
    assert not any(name == "adjust" for name, _ in world.platform.calls)
    assert world.metrics.total(MetricName.ADJUSTMENTS) == 0


def test_an_adjustment_at_an_unknown_store_or_by_staff_of_another_store_changes_nothing(world: World) -> None:
    member_id = world.joined()
    world.directory.put_store("S1", PutStore(name="North", channel=Channel.STORE))
    world.directory.put_store("S2", PutStore(name="South", channel=Channel.STORE))
    world.directory.put_staff("ann", PutStaff(name="Ann", store_id="S1", role=StaffRole.CASHIER))
    for store_id, staff_id, error in (("S9", None, errors.UnknownStore), ("S2", "ann", errors.UnknownStaff)):
        with pytest.raises(error):
            world.adjustments.adjust(
                "c-1",
                Adjustment(adjustment_id="a-1", points=5, reason="x", store_id=store_id, staff_id=staff_id),
            )
    assert world.platform.get_balance(member_id).balance == 0
    ok = Adjustment(adjustment_id="a-1", points=5, reason="x", store_id="S1", staff_id="ann")
    assert world.adjustments.adjust("c-1", ok).balance == 5


def test_zero_points_are_refused_at_the_edge() -> None:
    with pytest.raises(ValueError, match="non-zero"):
        Adjustment(adjustment_id="a-1", points=0, reason="x")


def test_the_history_is_the_customers_and_needs_a_joined_customer(world: World) -> None:
    world.joined()
    world.adjustments.adjust("c-1", Adjustment(adjustment_id="a-1", points=9, reason="x", staff_id="st"))
    page = world.history.activity("c-1", limit=10, cursor=None)
    [entry] = page.entries
    assert (entry.kind, entry.points, entry.staff_id, entry.description) == (
        ActivityKind.ADJUSTED,
        9,
        "st",
        "9 points added by the store",
    )
    with pytest.raises(errors.NotFound):
        world.history.activity("nobody", limit=10, cursor=None)


@pytest.mark.parametrize(
    ("kind", "points_in", "points_out", "refs", "sentence"),
    [
        (ActivityKind.EARNED, 39, 0, {"order_id": "o-1"}, "Order o-1: 39 points earned"),
        (
            ActivityKind.EARNED,
            14,
            600,
            {"order_id": "o-1"},
            "Order o-1: 14 points earned, 600 points redeemed",
        ),
        (ActivityKind.REDEEMED, 0, 600, {"order_id": "o-1"}, "Order o-1: 600 points redeemed"),
        (
            ActivityKind.REVERSED,
            0,
            1,
            {"order_id": "o-1", "refund_id": "r-1"},
            "Order o-1 refund r-1: 1 point taken back",
        ),
        (ActivityKind.RETURNED, 600, 0, {"order_id": "o-1"}, "Order o-1 cancelled: 600 points given back"),
        (ActivityKind.EXPIRED, 0, 1200, {}, "1,200 points expired"),
        (ActivityKind.ADJUSTED, 0, 30, {}, "30 points deducted by the store"),
        (ActivityKind.REFERRAL_BONUS, 100, 0, {}, "Referral bonus: 100 points for a friend's first order"),
        (ActivityKind.REWARD, 0, 500, {"reward_id": "tote"}, "Reward tote: 500 points spent"),
        (ActivityKind.MERGED_IN, 70, 0, {}, "70 points moved in from another card"),
        (ActivityKind.MERGED_OUT, 0, 70, {}, "70 points moved to your main card"),
        (ActivityKind.REPLACED, 70, 0, {}, "Card replaced: 70 points moved to the new card"),
        (ActivityKind.REPLACED, 0, 0, {}, "Card replaced"),
    ],
)
def test_every_kind_has_a_sentence(
    kind: ActivityKind, points_in: int, points_out: int, refs: dict[str, str], sentence: str
) -> None:
    assert history.describe(kind, points_in=points_in, points_out=points_out, refs=refs) == sentence


def test_a_cursor_round_trips_and_anything_else_is_invalid_cursor() -> None:
    key = f"{datetime(2025, 1, 15, tzinfo=UTC).isoformat(timespec='microseconds')}#adjust:a-1"
    assert history.decode_cursor(history.encode_cursor(key)) == key
    for bad in ("", "!!!", history.encode_cursor("no-time-here"), "eyJ2IjoyLCJhZnRlciI6IngifQ"):
        with pytest.raises(errors.InvalidInput) as refused:
            history.decode_cursor(bad)
        assert refused.value.code == "invalid_cursor"


def test_stats_ranges_are_checked_before_the_platform_is_asked() -> None:
    asked: list[tuple[str | None, date, date]] = []

    class Platform:
        def stats(self, store_id: str | None, start: date, end: date) -> StatsReport:
            asked.append((store_id, start, end))
            return StatsReport(store_id=store_id, start=start, end=end)

    service = StatsService(Platform())  # type: ignore[arg-type]
    day = date(2025, 1, 15)
    assert service.stats("S1", day - timedelta(days=365), day).available
    for start, end in ((day, day - timedelta(days=1)), (day - timedelta(days=366), day)):
        with pytest.raises(errors.InvalidInput):
            service.stats(None, start, end)
    assert asked == [("S1", day - timedelta(days=365), day)]


def test_each_entry_kind_counts_what_the_stats_say() -> None:
    assert stats.entry_counts("order", 39, 600) == {"orders": 1, "points_earned": 39, "points_redeemed": 600}
    assert stats.entry_counts("adjust", 0, 30) == {"adjustments": 1, "points_adjusted": -30}
    assert stats.entry_counts("opening", 500, 0) == {"opening": 500}  # never earned
    assert stats.entry_counts("merge_in", 70, 0) == {}
    assert stats.entry_counts("mature", 10, 0) == {}

"""P6 on fakes: the loyalty merge fields follow the points through the ordered sync, read
when applied, written only when they changed and at most once a minute per member. And a
change that outlives its erased customer (D2)."""

from __future__ import annotations

import pytest

from loyalty_bridge import errors
from loyalty_bridge.models.api_membership import LoyaltySummary
from loyalty_bridge.models.messages import Envelope, SyncedFields
from loyalty_bridge.models.records import CustomerRecord
from loyalty_bridge.services.balances import BalanceRecorder
from loyalty_bridge.services.loyalty_reach import LoyaltyDataAnnouncer, LoyaltyReach, merge_values
from loyalty_bridge.services.profile_sync import ProfileSync
from loyalty_bridge.services.sync_queue import MAILCHIMP, announce_join
from tests.fake_platform import FakeClock
from tests.unit.profile.conftest import World


class Points:
    """What the login summary says, by customer (set by the test)."""

    def __init__(self) -> None:
        self.balance: dict[str, int] = {}
        self.tier: dict[str, str] = {}

    def summary(self, record: CustomerRecord) -> LoyaltySummary:
        customer_id = record.customer_id
        tier = self.tier.get(customer_id)
        return LoyaltySummary.model_validate(
            {
                "customer_id": customer_id,
                "status": "joined",
                "join_prompt": False,
                "points": {
                    "balance": self.balance.get(customer_id, 0),
                    "pending": 0,
                    "redeemable": 0,
                    "point_value": "0.01",
                },
                "tier": {"name": tier} if tier else None,
                "next_reward": {
                    "name": "Free shipping",
                    "points_required": 500,
                    "points_needed": 400,
                    "progress": 0.2,
                },
                "referral": {"code": "ABC123", "link": "https://shop.example/r/ABC123"},
            }
        )


@pytest.fixture
def reach(world: World) -> tuple[Points, FakeClock, ProfileSync]:
    points, clock = Points(), FakeClock()
    loyalty = LoyaltyReach(points.summary, world.state, world.mailchimp, clock=clock)
    sync = ProfileSync(
        world.customers,
        world.platform,
        world.state,
        world.incidents,
        metrics=world.sync._metrics,
        mailing_list=world.mailchimp,
        reach=loyalty,
    )
    world.sync = sync
    return points, clock, sync


def moved(world: World, customer_id: str) -> None:
    """A balance change, as every service reports one (BalanceRecorder.moved)."""
    announce = LoyaltyDataAnnouncer(world.customers, world.queue, world.incidents)
    BalanceRecorder(world.platform, None, on_moved=announce).moved(world.member_of(customer_id))


def member_in_mailchimp(world: World, customer_id: str) -> None:
    """A joined customer whose first push to Mailchimp is done (their sync state says so)."""
    world.customer(customer_id)
    world.customers.link_member(customer_id, world.member_of(customer_id), "1")
    email = f"{customer_id}@example.com"
    world.state.mark_applied(customer_id, MAILCHIMP, 1, ["email"], facts={"email": email})


def merge(world: World, customer_id: str) -> dict[str, object]:
    return dict(world.mailchimp.members[f"{customer_id}@example.com"]["merge"])


def test_the_join_push_carries_the_loyalty_data_and_a_points_change_follows_in_one_sync(
    world: World, reach: tuple[Points, FakeClock, ProfileSync]
) -> None:
    points, _, _ = reach
    record = world.customer("c-1")
    world.customers.link_member("c-1", world.member_of("c-1"), "1")
    announce_join(world.queue, world.incidents, record)
    world.run()
    pushed = merge(world, "c-1")
    assert {tag: pushed.get(tag) for tag in ("LOYALTY", "POINTS", "TIER", "NEXTREWARD", "REFLINK")} == {
        "LOYALTY": "yes",
        "POINTS": 0,
        "TIER": "",
        "NEXTREWARD": "Free shipping: 400 points to go",
        "REFLINK": "https://shop.example/r/ABC123",
    }

    points.balance["c-1"], points.tier["c-1"] = 120, "Silver"
    moved(world, "c-1")
    [outcome] = world.run()

    assert outcome.applied == [MAILCHIMP]
    assert (merge(world, "c-1")["POINTS"], merge(world, "c-1")["TIER"]) == (120, "Silver")


def test_writes_are_coalesced_to_one_a_minute_and_end_with_the_last_values(
    world: World, reach: tuple[Points, FakeClock, ProfileSync]
) -> None:
    points, clock, sync = reach
    member_in_mailchimp(world, "c-1")
    world.mailchimp.members["c-1@example.com"] = {
        "status": "subscribed",
        "merge": {},
        "email": "c-1@example.com",
    }

    points.balance["c-1"] = 10
    moved(world, "c-1")
    assert [o.applied for o in world.run()] == [[MAILCHIMP]]
    upserts = len(world.mailchimp.upserts)

    # Three changes within the minute: the first waits (back to the queue), none is written.
    for balance in (20, 30, 40):
        points.balance["c-1"] = balance
        moved(world, "c-1")
    clock.advance(seconds=20)
    waiting = world.queue.drain()
    with pytest.raises(errors.Retryable):
        sync.handle(Envelope.model_validate_json(waiting[0].body))
    assert len(world.mailchimp.upserts) == upserts

    # A minute after the last write, the redelivered message writes the newest values once.
    clock.advance(seconds=41)
    outcomes = [sync.handle(Envelope.model_validate_json(m.body)) for m in waiting]
    assert [o.applied for o in outcomes] == [[MAILCHIMP], [], []]
    assert merge(world, "c-1")["POINTS"] == 40
    assert len(world.mailchimp.upserts) == upserts + 1


def test_the_last_delivery_writes_at_once_so_a_change_is_never_lost_to_the_minute(
    world: World, reach: tuple[Points, FakeClock, ProfileSync]
) -> None:
    """Redelivered faster than the minute passes (a short visibility timeout), the message's
    last delivery writes the values instead of ending as an error or in the DLQ."""
    points, clock, sync = reach
    member_in_mailchimp(world, "c-1")
    points.balance["c-1"] = 10
    moved(world, "c-1")
    assert [o.applied for o in world.run()] == [[MAILCHIMP]]

    points.balance["c-1"] = 25
    moved(world, "c-1")
    [message] = world.queue.drain()
    envelope = Envelope.model_validate_json(message.body)
    last = sync._policy.max_receives
    for receive in range(1, last):
        clock.advance(seconds=2)
        with pytest.raises(errors.Retryable):
            sync.handle(envelope, receive_count=receive)
    assert merge(world, "c-1")["POINTS"] == 10

    outcome = sync.handle(envelope, receive_count=last)
    assert outcome.applied == [MAILCHIMP]
    assert merge(world, "c-1")["POINTS"] == 25
    assert world.errors.records == {}  # no admin error for a normal burst of changes


def test_a_caller_that_knows_the_customer_queues_the_refresh_without_reading_the_link(world: World) -> None:
    """An order or a hold names its customer: the announcement needs no link read."""

    class NoLinkReads:
        def linked_customer(self, **_: str) -> str | None:
            raise AssertionError("the link was read")

    announce = LoyaltyDataAnnouncer(NoLinkReads(), world.queue, world.incidents)  # type: ignore[arg-type]
    BalanceRecorder(world.platform, None, on_moved=announce).moved("m-9", customer_id="c-9")
    [message] = world.queue.drain()
    assert Envelope.model_validate_json(message.body).customer_id == "c-9"


def test_merge_values_of_a_member_without_tier_reward_or_link() -> None:
    summary = LoyaltySummary.model_validate(
        {"customer_id": "c-1", "status": "joined", "join_prompt": False, "points": None}
    )
    assert merge_values(summary) == {"POINTS": 0, "TIER": "", "NEXTREWARD": "", "REFLINK": ""}


def test_without_a_lapse_of_time_nothing_is_written_twice(
    world: World, reach: tuple[Points, FakeClock, ProfileSync]
) -> None:
    points, clock, _ = reach
    member_in_mailchimp(world, "c-1")
    points.balance["c-1"] = 5
    moved(world, "c-1")
    moved(world, "c-1")
    clock.advance(seconds=1)
    assert [o.applied for o in world.run()] == [[MAILCHIMP], []]


def test_a_change_queued_before_the_customer_was_erased_is_skipped_and_records_nothing(
    world: World,
) -> None:
    world.customer("c-1")
    world.updates.update_profile("c-1", SyncedFields(first_name="Anna"))
    del world.customers.records["c-1"]  # erased (D2) while the change waited in the queue

    [outcome] = world.run()

    assert (outcome.skipped, outcome.failed) == (["all"], [])
    assert world.errors.records == {}

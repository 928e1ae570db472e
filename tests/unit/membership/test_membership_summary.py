"""Login summary (A6): from our own store, every field of API.md that exists."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from loyalty_bridge.models.domain import Balance
from loyalty_bridge.services.summary import SnapshotBalances, SummaryService
from tests.fakes import InMemoryBalanceSnapshots
from tests.unit.membership.conftest import World


class FixedBalances:
    def __init__(self, balance: Balance) -> None:
        self.balance = balance
        self.reads = 0

    def get_balance(self, member_id: str) -> Balance:
        self.reads += 1
        return self.balance.model_copy(update={"member_id": member_id})


def _joined(world: World) -> str:
    world.sign_up("c-1")
    world.run_worker()
    record = world.customers.get("c-1")
    assert record is not None
    assert record.member_id is not None
    return record.member_id


def test_summary_shows_points_pending_redeemable_expiry_and_tier(world: World) -> None:
    _joined(world)
    balances = FixedBalances(
        Balance(
            member_id="-",
            balance=1250,
            pending=40,
            held=250,
            next_expiry_points=200,
            next_expiry_on=date(2027, 3, 1),
            tier="Silver",
            next_tier="Gold",
            spend_to_next_tier=Decimal("120"),
        )
    )
    summary = SummaryService(world.customers, balances, world.settings, clock=world.clock).summary("c-1")
    body = summary.model_dump(mode="json")
    assert body["points"] == {
        "balance": 1250,
        "pending": 40,
        "redeemable": 1000,
        "point_value": "0.01",
        "next_expiry": {"points": 200, "on": "2027-03-01"},
    }
    assert body["tier"] == {"name": "Silver", "next": "Gold", "spend_to_next": "120.00"}
    assert body["join_prompt"] is False
    assert balances.reads == 1


def test_built_in_ledger_summary_reflects_points_at_once(world: World) -> None:
    member_id = _joined(world)
    world.platform.accounts[member_id].available = 300  # what an order credit leaves behind
    points = world.summary.summary("c-1").points
    assert points is not None
    assert points.balance == 300


def test_snapshot_balances_call_the_platform_only_on_a_miss(world: World) -> None:
    member_id = _joined(world)
    snapshots = InMemoryBalanceSnapshots()
    source = SnapshotBalances(snapshots, world.platform)
    calls = len(world.platform.calls)
    assert source.get_balance(member_id).balance == 0
    assert len(world.platform.calls) == calls + 1
    snapshots.put(Balance(member_id=member_id, balance=77))
    assert source.get_balance(member_id).balance == 77
    assert len(world.platform.calls) == calls + 1


def test_summary_of_a_pending_customer_has_no_join_prompt(world: World) -> None:
    world.sign_up("c-1")
    summary = world.summary.summary("c-1").model_dump(mode="json")
    assert summary == {
        "customer_id": "c-1",
        "status": "pending",
        "join_prompt": False,
        "accumulate_only": False,
    }

"""The built-in ledger's adjustments (R7), history (R8) and day counters (R6) on moto: what
each entry item carries, the counters folded into the change's own transaction (no extra
call), and the history read as a Query on the member's entries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from loyalty_bridge.adapters.ledger import DynamoDbLedger
from loyalty_bridge.adapters.ledger.stats import SHARDS
from loyalty_bridge.models.activity import Adjustment
from loyalty_bridge.models.domain import Consents, MemberProfile, Reversal
from loyalty_bridge.program.earn_rules import load_rules
from loyalty_bridge.settings import Settings
from tests.contract.harness_ledger import ledger_on_moto
from tests.fake_platform import FakeClock
from tests.integration.ledger.conftest import MakeLedger
from tests.integration.ledger.test_ledger_adapter import an_order


class RecordingClient:
    """Passes every call through and keeps the arguments of each."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._real, name)

        def call(**kwargs: Any) -> Any:
            self.calls.append((name, kwargs))
            return method(**kwargs)

        return call

    def writes(self) -> list[tuple[str, dict[str, Any]]]:
        names = {"put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item"}
        return [(name, kwargs) for name, kwargs in self.calls if name in names]


def recording_ledger(make_ledger: MakeLedger, clock: FakeClock) -> tuple[DynamoDbLedger, RecordingClient]:
    real = make_ledger()
    client = RecordingClient(real._db)
    return DynamoDbLedger(client, real._table, Settings(), real.rules, clock), client  # type: ignore[arg-type]


def stats_updates(kwargs: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        item["Update"]
        for item in kwargs["TransactItems"]
        if "Update" in item and item["Update"]["Key"]["pk"]["S"].startswith("STATS#")
    ]


def test_an_order_and_an_adjustment_each_stay_one_transaction_with_one_counter_update(
    clock: FakeClock, make_ledger: MakeLedger
) -> None:
    ledger, client = recording_ledger(make_ledger, clock)
    member = ledger.create_member(MemberProfile(email="a@example.com"), Consents(), idempotency_key="k")
    [(name, created)] = client.writes()
    assert name == "transact_write_items"
    assert len(stats_updates(created)) == 1  # the new member is counted in its own transaction
    client.calls.clear()

    order = an_order("o-1", "40", clock).model_copy(update={"store_id": "S1"})
    ledger.post_order(member.member_id, order)
    [(name, written)] = client.writes()
    [update] = stats_updates(written)
    assert name == "transact_write_items"
    assert update["Key"]["sk"]["S"] == f"DAY#{clock().date().isoformat()}"
    assert set(update["ExpressionAttributeNames"].values()) == {
        "c:orders",
        "c:points_earned",
        "store:S1:orders",
        "store:S1:points_earned",
    }
    client.calls.clear()

    ledger.adjust(member.member_id, Adjustment(adjustment_id="a-1", points=-5, reason="x", store_id="S1"))
    [(name, adjusted)] = client.writes()
    assert name == "transact_write_items"
    assert len(stats_updates(adjusted)) == 1
    client.calls.clear()
    ledger.adjust(member.member_id, Adjustment(adjustment_id="a-1", points=-5, reason="x", store_id="S1"))
    assert client.writes() == []  # a replay writes nothing, so it counts nothing


def test_each_entry_item_carries_what_the_history_reads(clock: FakeClock, make_ledger: MakeLedger) -> None:
    ledger = make_ledger()
    member = ledger.create_member(MemberProfile(email="a@example.com"), Consents(), idempotency_key="k")
    order = an_order("o-1", "40", clock).model_copy(update={"store_id": "S1", "staff_id": "ann"})
    ledger.post_order(member.member_id, order)
    clock.advance(seconds=1)
    ledger.reverse(member.member_id, Reversal(reversal_id="r-1", order_id="o-1", lines=[("A", 1)]))
    items = {item["kind"]: item for item in ledger.entries(member.member_id)}
    earned, reversed_ = items["order"], items["reversal"]
    assert (earned["activity"], earned["points_in"], earned["balance_after"]) == ("earned", 40, 40)
    assert (earned["order_id"], earned["store_id"], earned["staff_id"]) == ("o-1", "S1", "ann")
    assert (reversed_["activity"], reversed_["points_out"], reversed_["balance_after"]) == ("reversed", 40, 0)
    assert (reversed_["refund_id"], reversed_["store_id"]) == ("r-1", "S1")  # counted at the order's store
    day = clock().date()
    [s1] = ledger.stats("S1", day, day).days
    assert (s1.orders, s1.points_earned, s1.points_reversed) == (1, 40, 40)


def test_counters_of_many_members_spread_over_the_shards_and_sum_up(
    clock: FakeClock, make_ledger: MakeLedger
) -> None:
    ledger = make_ledger()
    for i in range(3 * SHARDS):
        member = ledger.create_member(
            MemberProfile(email=f"m{i}@example.com"), Consents(), idempotency_key=f"k{i}"
        )
        ledger.adjust(member.member_id, Adjustment(adjustment_id=f"a-{i}", points=2, reason="x"))
    day = clock().date()
    [whole] = ledger.stats(None, day, day).days
    assert (whole.new_members, whole.adjustments, whole.points_adjusted) == (
        3 * SHARDS,
        3 * SHARDS,
        6 * SHARDS,
    )
    used = [
        shard
        for shard in range(SHARDS)
        if list(
            ledger._query(
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": f"STATS#{shard}"}},
            )
        )
    ]
    assert len(used) > 1  # concurrent writes of different members do not meet on one item


def test_a_change_that_commits_after_another_is_never_dated_before_it(make_ledger: MakeLedger) -> None:
    """Adjustment A reads the account; before A takes its time, adjustment B commits. A's
    stale read fails its version check and A is written after B, dated after B: the
    history (ordered by time) shows the balances in the order they were made."""

    class InterleavingClock(FakeClock):
        """Ticks a millisecond a call; its first armed call lets B commit, then answers an
        earlier time than B's (a change that read the account before B committed)."""

        def __init__(self) -> None:
            super().__init__()
            self.between: Any = None

        def __call__(self) -> datetime:
            self.advance(milliseconds=1)
            if self.between is None:
                return self.now
            between, self.between = self.between, None
            earlier = self.now
            between()
            return earlier

    clock = InterleavingClock()
    ledger = ledger_on_moto(Settings(), load_rules(Settings()), clock)
    member = ledger.create_member(MemberProfile(email="a@example.com"), Consents(), idempotency_key="k")
    clock.between = lambda: ledger.adjust(
        member.member_id, Adjustment(adjustment_id="b", points=1, reason="x")
    )
    ledger.adjust(member.member_id, Adjustment(adjustment_id="a", points=1, reason="x"))
    # The history's index order (by time), oldest first.
    entries = [item for item in ledger.entries(member.member_id) if item["kind"] == "adjust"]
    assert [int(item["balance_after"]) for item in entries] == [1, 2]

"""The ledger prices with the program in force (R9): a ProgramSource read per operation, and
every priced entry (order, reversal, reward) and hold records the version that priced it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from loyalty_bridge.adapters.ledger import DynamoDbLedger
from loyalty_bridge.models.domain import (
    Basket,
    BasketLine,
    Consents,
    MemberProfile,
    Reversal,
    Reward,
    RewardKind,
)
from loyalty_bridge.program.earn_rules import ProgramRules, SpendRule
from loyalty_bridge.program.orders import order_entry_id
from loyalty_bridge.program.rewards import reward_entry_id
from loyalty_bridge.settings import Settings
from tests.fake_platform import FakeClock
from tests.integration.ledger.conftest import MakeLedger
from tests.integration.ledger.test_ledger_adapter import CountingClient
from tests.integration.ledger.test_ledger_program import seed

MUG = Reward(reward_id="mug", name="Mug", points=50, kind=RewardKind.PRODUCT, value="MUG-1")


class ChangingProgram:
    """A ProgramSource an admin changes between operations."""

    def __init__(self, rules: ProgramRules) -> None:
        self.version, self.rules = 1, rules

    def put(self, rules: ProgramRules) -> None:
        self.version, self.rules = self.version + 1, rules

    def current(self) -> tuple[int, ProgramRules]:
        return self.version, self.rules


def basket(amount: str) -> Basket:
    line = BasketLine(sku="S", title="S", quantity=1, unit_price=Decimal(amount))
    return Basket(currency="EUR", lines=[line])


def on_source(make_ledger: MakeLedger, clock: FakeClock, source: ChangingProgram) -> DynamoDbLedger:
    table = make_ledger()
    return DynamoDbLedger(table._db, table._table, Settings(), source, clock)


def test_a_new_version_prices_the_next_operation_and_entries_keep_theirs(
    clock: FakeClock, make_ledger: MakeLedger
) -> None:
    source = ChangingProgram(ProgramRules(rewards=(MUG,)))
    ledger = on_source(make_ledger, clock, source)
    member = ledger.create_member(MemberProfile(email="v@example.com"), Consents(), idempotency_key="k")
    ledger.post_order(member.member_id, seed(clock, "o-1", 40))

    source.put(ProgramRules(rules=(SpendRule(points=Decimal(2)),), rewards=(MUG,)))

    assert ledger.quote(member.member_id, basket("40")).points_to_earn == 80
    assert ledger.post_order(member.member_id, seed(clock, "o-2", 40)).points_earned == 80
    ledger.reverse(member.member_id, Reversal(reversal_id="r-1", order_id="o-1", lines=[("S", 1)]))
    ledger.redeem_reward(member.member_id, "mug", idempotency_key="mug-1")
    ledger.hold_points(
        member.member_id, "h-1", 10, order_total=Decimal(100), expires_at=clock() + timedelta(minutes=15)
    )
    versions = {str(e["entry_id"]): e.get("program_version") for e in ledger.entries(member.member_id)}
    assert versions[order_entry_id("o-1")] == 1
    assert versions[order_entry_id("o-2")] == 2
    assert versions["reversal:o-1:r-1"] == 1  # the version that priced the order it takes back
    assert versions[reward_entry_id("mug-1")] == 2
    hold = ledger._get(f"MEMBER#{member.member_id}", "HOLD#h-1")
    assert hold is not None
    assert hold["program_version"] == 2


def test_reading_the_program_adds_no_dynamodb_call(clock: FakeClock, make_ledger: MakeLedger) -> None:
    source = ChangingProgram(ProgramRules())
    real = on_source(make_ledger, clock, source)
    member = real.create_member(MemberProfile(email="c@example.com"), Consents(), idempotency_key="k")
    counting = CountingClient(real._db)
    ledger = DynamoDbLedger(counting, real._table, Settings(), source, clock)  # type: ignore[arg-type]

    ledger.quote(member.member_id, basket("10"))
    before = list(counting.calls)
    counting.calls.clear()
    source.put(ProgramRules(rules=(SpendRule(points=Decimal(3)),)))
    assert ledger.quote(member.member_id, basket("10")).points_to_earn == 30

    assert counting.calls == before

"""The built-in ledger's program rules on moto, beyond the contract suite: expiry written
off by a read or the sweeper (R3), rewards under contention (R4), the referral bonus in the
referred order's transaction (R5)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

from loyalty_bridge.errors import InsufficientPoints
from loyalty_bridge.models.domain import (
    Consents,
    MemberProfile,
    PlatformOrder,
    PlatformOrderLine,
    Reward,
    RewardKind,
)
from loyalty_bridge.program.earn_rules import ProgramRules
from tests.fake_platform import FakeClock
from tests.integration.ledger.conftest import MakeLedger


def seed(clock: FakeClock, order_id: str, amount: int) -> PlatformOrder:
    line = PlatformOrderLine(product_code="S", title="S", quantity=1, unit_price=Decimal(amount), sku="S")
    return PlatformOrder(
        order_id=order_id, placed_at=clock(), currency="EUR", total=Decimal(amount), lines=[line]
    )


def kinds(entries: list[dict[str, object]]) -> Counter[str]:
    return Counter(str(e["kind"]) for e in entries)


def test_a_read_on_the_expiry_day_writes_the_points_off_once(
    clock: FakeClock, make_ledger: MakeLedger
) -> None:
    ledger = make_ledger(rules=ProgramRules(expiry_months=1))
    member = ledger.create_member(MemberProfile(email="a@example.com"), Consents(), idempotency_key="k")
    ledger.post_order(member.member_id, seed(clock, "o-1", 80))
    clock.now = datetime(2025, 2, 15, 9, tzinfo=UTC)

    assert ledger.get_balance(member.member_id).balance == 0
    assert ledger.get_balance(member.member_id).balance == 0
    assert ledger.expire_points(clock()) == 0  # the read already wrote them off

    entries = ledger.entries(member.member_id)
    assert kinds(entries) == {"order": 1, "expire": 1}
    assert sum(int(str(e["delta"])) for e in entries) == 0


def test_the_sweeper_only_visits_members_with_points_due(clock: FakeClock, make_ledger: MakeLedger) -> None:
    ledger = make_ledger(rules=ProgramRules(expiry_months=1))
    members = [
        ledger.create_member(MemberProfile(email=f"m{i}@example.com"), Consents(), idempotency_key=f"k{i}")
        for i in range(3)
    ]
    ledger.post_order(members[0].member_id, seed(clock, "o-0", 10))
    clock.advance(days=20)
    ledger.post_order(members[1].member_id, seed(clock, "o-1", 10))
    clock.now = datetime(2025, 2, 16, tzinfo=UTC)

    assert ledger.expire_points(clock(), limit=10) == 1
    assert [ledger.get_balance(m.member_id).balance for m in members] == [0, 10, 0]
    assert kinds(ledger.entries(members[2].member_id)) == Counter()


def test_rewards_redeemed_in_parallel_never_overspend(clock: FakeClock, make_ledger: MakeLedger) -> None:
    reward = Reward(reward_id="r", name="R", points=300, kind=RewardKind.PRODUCT, value="X")
    ledger = make_ledger(rules=ProgramRules(rewards=(reward,)))
    member = ledger.create_member(MemberProfile(email="a@example.com"), Consents(), idempotency_key="k")
    ledger.post_order(member.member_id, seed(clock, "seed", 1000))
    threads_count = 8
    start = threading.Barrier(threads_count)
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def redeem(i: int) -> None:
        start.wait()
        try:
            ledger.redeem_reward(member.member_id, "r", idempotency_key=f"k-{i}")
        except InsufficientPoints:
            with lock:
                outcomes["refused"] += 1
            return
        with lock:
            outcomes["coupon"] += 1

    threads = [threading.Thread(target=redeem, args=(i,)) for i in range(threads_count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert outcomes == {"coupon": 3, "refused": 5}
    assert ledger.get_balance(member.member_id).balance == 100
    assert len({c.code for c in ledger.coupons(member.member_id)}) == 3
    assert sum(int(str(e["delta"])) for e in ledger.entries(member.member_id)) == 100


def test_the_referral_bonus_is_written_with_the_first_order(
    clock: FakeClock, make_ledger: MakeLedger
) -> None:
    ledger = make_ledger(rules=ProgramRules(referral_bonus_points=150))
    ann = ledger.create_member(MemberProfile(email="ann@example.com"), Consents(), idempotency_key="a")
    bob = ledger.create_member(
        MemberProfile(email="bob@example.com"),
        Consents(),
        idempotency_key="b",
        referral_code=ann.referral_code,
    )

    ledger.post_order(bob.member_id, seed(clock, "o-1", 10))

    entries = ledger.entries(ann.member_id)
    assert [(e["entry_id"], int(str(e["delta"]))) for e in entries] == [(f"referral:{bob.member_id}", 150)]
    assert ledger.get_balance(ann.member_id).balance == 150

"""C2 under contention: many checkouts redeeming against one balance never overspend; R4: a
coupon named by racing orders is used once."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from decimal import Decimal

from loyalty_bridge.errors import InsufficientPoints
from loyalty_bridge.models.domain import (
    Consents,
    CouponStanding,
    CouponStatus,
    MemberProfile,
    PlatformOrder,
    PlatformOrderLine,
    Reward,
    RewardKind,
)
from loyalty_bridge.program.earn_rules import ProgramRules, SpendRule
from tests.fake_platform import FakeClock
from tests.integration.ledger.conftest import MakeLedger

THREADS = 20


def test_twenty_threads_redeeming_one_balance_never_overspend(
    clock: FakeClock, make_ledger: MakeLedger
) -> None:
    # Only the seed order earns (store channel), so the redeeming orders do not add points back.
    ledger = make_ledger(
        rules=ProgramRules(rules=(SpendRule(channels=frozenset({"store"})),), max_redeem_share=Decimal(1))
    )
    member = ledger.create_member(MemberProfile(email="a@example.com"), Consents(), idempotency_key="k")
    seed = PlatformOrder(
        order_id="seed",
        placed_at=clock(),
        currency="EUR",
        total=Decimal(1000),
        channel="store",
        lines=[PlatformOrderLine(product_code="S", title="S", quantity=1, unit_price=Decimal(1000), sku="S")],
    )
    assert ledger.post_order(member.member_id, seed).points_earned == 1000
    start = threading.Barrier(THREADS)
    outcomes: Counter[str] = Counter()
    redeemed: list[int] = []
    lock = threading.Lock()

    def checkout(i: int) -> None:
        start.wait()
        try:
            hold = ledger.hold_points(
                member.member_id,
                f"r-{i}",
                150,
                order_total=Decimal(10),
                expires_at=clock() + timedelta(minutes=30),
            )
        except InsufficientPoints:
            with lock:
                outcomes["refused"] += 1
            return
        order = PlatformOrder(
            order_id=f"o-{i}",
            placed_at=clock(),
            currency="EUR",
            total=Decimal("8.50"),
            redemption_id=hold.redemption_id,
            lines=[
                PlatformOrderLine(product_code="A", title="A", quantity=1, unit_price=Decimal(10), sku="A")
            ],
        )
        result = ledger.post_order(member.member_id, order)
        with lock:
            outcomes["redeemed"] += 1
            redeemed.append(result.points_redeemed)

    threads = [threading.Thread(target=checkout, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    balance = ledger.get_balance(member.member_id)
    assert outcomes == {"redeemed": 6, "refused": 14}  # 6 x 150 = 900 <= 1000 < 7 x 150
    assert sum(redeemed) == 900
    assert (balance.balance, balance.held) == (100, 0)
    assert sum(int(e["delta"]) for e in ledger.entries(member.member_id)) == 100


def test_orders_racing_with_one_coupon_use_it_once(clock: FakeClock, make_ledger: MakeLedger) -> None:
    """R4: concurrent orders naming the same coupon: one uses it, every other one is credited
    with it refused as used (the coupon's conditional write loses, the order re-reads)."""
    five_off = Reward(
        reward_id="five-off", name="5 off", points=100, kind=RewardKind.FIXED_DISCOUNT, value="5"
    )
    ledger = make_ledger(rules=ProgramRules(rewards=(five_off,)))
    member = ledger.create_member(MemberProfile(email="a@example.com"), Consents(), idempotency_key="k")

    def order(order_id: str, price: int, promo: str | None = None) -> PlatformOrder:
        line = PlatformOrderLine(product_code="A", title="A", quantity=1, unit_price=Decimal(price), sku="A")
        return PlatformOrder(
            order_id=order_id,
            placed_at=clock(),
            currency="EUR",
            total=Decimal(price),
            lines=[line],
            promo_code=promo,
        )

    ledger.post_order(member.member_id, order("seed", 100))
    coupon = ledger.redeem_reward(member.member_id, "five-off", idempotency_key="r-1")
    start = threading.Barrier(THREADS // 2)
    refusals: list[CouponStanding | None] = []
    lock = threading.Lock()

    def checkout(i: int) -> None:
        start.wait()
        result = ledger.post_order(member.member_id, order(f"o-{i}", 10, coupon.code))
        with lock:
            refusals.append(result.coupon_refused)

    threads = [threading.Thread(target=checkout, args=(i,)) for i in range(THREADS // 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert Counter(refusals) == {None: 1, CouponStanding.USED: THREADS // 2 - 1}
    assert [c.status for c in ledger.coupons(member.member_id)] == [CouponStatus.USED]

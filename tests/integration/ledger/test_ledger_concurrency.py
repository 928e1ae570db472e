"""C2 under contention: many checkouts redeeming against one balance never overspend."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from decimal import Decimal

from loyalty_bridge.errors import InsufficientPoints
from loyalty_bridge.models.domain import Consents, MemberProfile, PlatformOrder, PlatformOrderLine
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

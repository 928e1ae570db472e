"""Stateful property tests of a LoyaltyPlatform that keeps a ledger (hypothesis
RuleBasedStateMachine): run on the built-in ledger over moto
(tests/integration/ledger/test_ledger_properties.py) and on the account rules alone, in
the in-memory platform (tests/unit/ledger/test_account_properties.py).

Whatever sequence of earns, holds, captures, releases, refunds, cancels, expiries, sweeps,
rewards, days passing (points expiring, R3) and replays happens: the balance never goes
negative, holds never exceed it, the balance equals the sum of the ledger entries and of
what the answers said (less what expired), the points kept by credit day never exceed the
balance and none past its expiry is left available, and replaying any operation changes
nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from loyalty_bridge.errors import InsufficientPoints, PlatformRefused
from loyalty_bridge.models.domain import Consents, MemberProfile, PlatformOrder, PlatformOrderLine, Reversal
from loyalty_bridge.program.earn_rules import ProgramRules, load_rules
from loyalty_bridge.program.point_lots import add_months
from loyalty_bridge.settings import Settings
from tests.fake_platform import FakeClock

SKUS = ("A", "B", "C")


class LedgerMachine(RuleBasedStateMachine):
    """Subclasses say which platform runs: ``open_platform(settings, rules, clock)``."""

    def open_platform(self, settings: Settings, rules: ProgramRules, clock: FakeClock) -> Any:
        raise NotImplementedError

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.member_id = ""
        self.said = 0  # what the answers add up to: earned - redeemed + returned - reversed
        self.orders: dict[str, PlatformOrder] = {}
        self.holds: dict[str, int] = {}  # redemption id -> points, holds that were granted
        self.done: list[tuple[Callable[[], Any], Any]] = []  # (operation, first answer) for replays
        self.counter = 0
        self.expired_seen = 0  # points written off by expiry so far (R3)
        self.expiry_months: int | None = None

    def _next(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.counter}"

    @initialize(pending_days=st.sampled_from([0, 0, 1]), expiry_months=st.sampled_from([None, 1, 1]))
    def join(self, pending_days: int, expiry_months: int | None) -> None:
        self.expiry_months = expiry_months
        program = {
            "expiry_months": expiry_months,
            "rewards": [{"reward_id": "r40", "name": "R40", "points": 40, "kind": "product", "value": "X"}],
        }
        config = Settings(
            pending_days=pending_days, max_redeem_share=Decimal(1), earn_rules_json=json.dumps(program)
        )
        self.ledger = self.open_platform(config, load_rules(config), self.clock)
        member = self.ledger.create_member(
            MemberProfile(email="p@example.com"), Consents(), idempotency_key="j"
        )
        self.member_id = member.member_id

    def _post(self, lines: list[tuple[str, int, int]], redemption_id: str | None) -> None:
        order_id = self._next("o")
        built = [
            PlatformOrderLine(product_code=s, title=s, quantity=q, unit_price=Decimal(p), sku=s)
            for s, q, p in lines
        ]
        order = PlatformOrder(
            order_id=order_id,
            placed_at=self.clock(),
            currency="EUR",
            lines=built,
            total=sum((ln.unit_price * ln.quantity for ln in built), Decimal(0)),
            redemption_id=redemption_id,
        )
        refused_code = ""
        try:
            result = self.ledger.post_order(self.member_id, order)
        except PlatformRefused as refused:
            refused_code = refused.code
        if refused_code:
            assert redemption_id is not None
            assert refused_code in {"hold_expired", "hold_not_found"}
            return
        self.said += result.points_earned - result.points_redeemed
        self.orders[order_id] = order
        self.done.append((lambda: self.ledger.post_order(self.member_id, order), result))

    @rule(
        lines=st.lists(
            st.tuples(st.sampled_from(SKUS), st.integers(1, 4), st.integers(0, 60)),
            min_size=1,
            max_size=3,
            unique_by=lambda line: line[0],
        )
    )
    def earn(self, lines: list[tuple[str, int, int]]) -> None:
        self._post(lines, None)

    @rule(points=st.integers(1, 400), minutes=st.integers(1, 90))
    def hold(self, points: int, minutes: int) -> None:
        redemption_id = self._next("r")
        expires = self.clock() + timedelta(minutes=minutes)

        def op() -> Any:
            return self.ledger.hold_points(
                self.member_id, redemption_id, points, order_total=Decimal(10_000), expires_at=expires
            )

        before = self.ledger.get_balance(self.member_id)
        try:
            hold = op()
        except InsufficientPoints:
            assert points > before.available
            return
        assert points <= before.available
        self.holds[redemption_id] = points
        self.done.append((op, hold))

    @rule()
    def redeem_everything(self) -> None:
        """Spend the whole available balance (so later reversals meet an empty balance)."""
        available = self.ledger.get_balance(self.member_id).available
        if available:
            redemption_id = self._next("r")
            self.ledger.hold_points(
                self.member_id,
                redemption_id,
                available,
                order_total=Decimal(10_000),
                expires_at=self.clock() + timedelta(minutes=5),
            )
            self._post([("C", 1, 0)], redemption_id)

    @precondition(lambda self: bool(self.holds))
    @rule(data=st.data(), amount=st.integers(0, 30))
    def capture(self, data: st.DataObject, amount: int) -> None:
        redemption_id = data.draw(st.sampled_from(sorted(self.holds)))
        self._post([("A", 1, amount)], redemption_id)

    @precondition(lambda self: bool(self.holds))
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        redemption_id = data.draw(st.sampled_from(sorted(self.holds)))
        self.ledger.release_hold(self.member_id, redemption_id)

    @precondition(lambda self: bool(self.orders))
    @rule(data=st.data(), cancel=st.booleans())
    def reverse(self, data: st.DataObject, cancel: bool) -> None:
        order_id = data.draw(st.sampled_from(sorted(self.orders)))
        lines = (
            []
            if cancel
            else data.draw(
                st.lists(st.tuples(st.sampled_from(SKUS), st.integers(0, 5)), min_size=1, max_size=3)
            )
        )
        reversal = Reversal(reversal_id=self._next("rev"), order_id=order_id, lines=lines, cancel=cancel)
        result = self.ledger.reverse(self.member_id, reversal)
        self.said += result.points_returned - result.points_reversed
        self.done.append((lambda: self.ledger.reverse(self.member_id, reversal), result))

    @rule(hours=st.sampled_from([0.25, 1, 12, 25]))
    def time_passes(self, hours: float) -> None:
        self.clock.advance(hours=hours)

    @rule()
    def sweep(self) -> None:
        self.ledger.release_expired_holds(self.clock())

    @rule(days=st.sampled_from([3, 20, 40]))
    def days_pass(self, days: int) -> None:
        self.clock.advance(days=days)

    @rule()
    def sweep_expired_points(self) -> None:
        self.ledger.expire_points(self.clock())

    @rule()
    def redeem_reward(self) -> None:
        key = self._next("reward")
        before = self.ledger.get_balance(self.member_id)
        try:
            coupon = self.ledger.redeem_reward(self.member_id, "r40", idempotency_key=key)
        except InsufficientPoints:
            assert before.available < 40
            return
        assert before.available >= 40
        self.said -= coupon.points
        self.done.append(
            (lambda: self.ledger.redeem_reward(self.member_id, "r40", idempotency_key=key), coupon)
        )

    @precondition(lambda self: bool(self.done))
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        op, first = data.draw(st.sampled_from(self.done))
        before = self.ledger.get_balance(self.member_id)
        assert op() == first
        assert self.ledger.get_balance(self.member_id) == before

    @invariant()
    def balance_is_consistent(self) -> None:
        if not self.member_id:
            return
        balance = self.ledger.get_balance(self.member_id)
        assert balance.balance >= 0
        assert balance.pending >= 0
        assert 0 <= balance.held <= balance.balance
        entries = self.ledger.entries(self.member_id)
        assert (
            sum(int(e["delta"]) + int(e["pending_delta"]) for e in entries)
            == balance.balance + balance.pending
        )
        expired = [-int(e["delta"]) for e in entries if e["kind"] == "expire"]
        assert all(points > 0 for points in expired)
        assert not expired or self.expiry_months is not None
        self.said -= sum(expired) - self.expired_seen  # what the answers said, less what expired
        self.expired_seen = sum(expired)
        assert self.said == balance.balance + balance.pending
        # R3: the balance by credit day is the balance (this member never had untracked
        # points); what is past its expiry is only what open holds keep (they are spent,
        # or expire, when the hold ends).
        by_day = self.ledger.points_by_day(self.member_id)
        assert sum(by_day.values()) == balance.balance
        if self.expiry_months is not None:
            today = self.clock().date()
            due = sum(
                p
                for day, p in by_day.items()
                if add_months(date.fromisoformat(day), self.expiry_months) <= today
            )
            assert due <= balance.held
            if balance.next_expiry_on is not None:
                assert balance.next_expiry_on > today
                assert 0 < balance.next_expiry_points <= balance.balance


MACHINE_SETTINGS = settings(
    max_examples=20,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

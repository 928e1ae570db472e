"""InMemoryPlatform: a complete, honest LoyaltyPlatform in memory (re-exported by tests/fakes.py).

It keeps each member's ``program.account.Account`` in memory and calls the same account
rules as the built-in ledger (program/account.py, orders.py, rewards.py: settlement,
holds, orders, reversals, coupons, referral bonus, merges), so it restates none of them;
it runs in the contract suite next to the ledger. What is its own is bookkeeping: members,
cards, emails, replays and the ledger entries (``balance_of``, ``entries``).

Test helpers: ``fail_next(method, exc, times=1)`` injects a failure, ``calls`` records
every port call, ``import_physical_cards`` adds card stock, ``clock.advance`` moves time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from loyalty_bridge import errors
from loyalty_bridge.models import domain
from loyalty_bridge.models.domain import CardKind, CardState, Consents, Coupon, MemberProfile
from loyalty_bridge.program import account as rules
from loyalty_bridge.program import orders as order_rules
from loyalty_bridge.program import rewards as reward_rules
from loyalty_bridge.program.account import Account, Entry
from loyalty_bridge.program.earn_rules import ProgramRules, load_rules
from loyalty_bridge.program.orders import OrderRecord
from loyalty_bridge.settings import Settings
from tests.fake_activity import FakeActivity
from tests.fake_cards import FakeCards
from tests.fake_imports import FakeImports
from tests.fake_members import MemberAccount, _port


class FakeClock:
    """A settable UTC clock: ``clock()`` is now, ``clock.advance(minutes=5)`` moves it."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2025, 1, 15, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class InMemoryPlatform(FakeCards, FakeImports, FakeActivity):
    """LoyaltyPlatform in memory. Not thread-safe (unit tests)."""

    # As the built-in ledger: place_hold refuses an accumulate-only member itself (A9).
    refuses_holds_of_incomplete_profiles = True

    def __init__(
        self,
        settings: Settings | None = None,
        rules: ProgramRules | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.rules = rules or load_rules(self.settings)
        self.clock: Callable[[], datetime] = clock or FakeClock()
        self.accounts: dict[str, MemberAccount] = {}
        self.cards: dict[str, tuple[CardKind, CardState, str | None]] = {}  # number -> kind, state, member
        self.emails: dict[str, str] = {}
        self.requests: dict[str, Any] = {}  # idempotency key -> first answer
        self.ledger: dict[str, Entry] = {}  # entry id -> entry (orders, rewards, reversals answer from it)
        self.entry_times: dict[str, datetime] = {}  # entry id -> when it was written (history, stats)
        self.orders: dict[str, OrderRecord] = {}
        self.referral_codes: dict[str, str] = {}  # code -> member id (R5)
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._failures: dict[str, list[BaseException]] = {}
        self._lost_replies: dict[str, int] = {}
        self.create_bodies: dict[str, tuple[MemberProfile, Consents]] = {}  # key -> first body
        self._ids = 0
        self.replaced_by: dict[str, str] = {}  # A10: old card -> its replacement
        self.block_reasons: dict[str, str] = {}  # A10: card -> why it was blocked

    # ------------------------------------------------------------------ test helpers

    def fail_next(self, method: str, exc: BaseException, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` raise ``exc`` (before doing anything)."""
        self._failures.setdefault(method, []).extend([exc] * times)

    def lose_next_reply(self, method: str, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` do their work, then raise PlatformUnavailable
        (the reply was lost on the way back). Supported by create_member."""
        self._lost_replies[method] = self._lost_replies.get(method, 0) + times

    @property
    def order_results(self) -> dict[str, domain.OrderResult]:
        """Each credited order's first answer, by order id (what tests wait for)."""
        entries = {
            order_id: self.ledger.get(order_rules.order_entry_id(order_id)) for order_id in list(self.orders)
        }
        return {
            oid: domain.OrderResult.model_validate_json(e.result)
            for oid, e in entries.items()
            if e is not None
        }

    def balance_of(self, member_id: str) -> int:
        """Sum of ledger entries (what the balance must equal)."""
        return sum(entry.delta for entry in self.ledger.values() if entry.member_id == member_id)

    def entries(self, member_id: str) -> list[dict[str, Any]]:
        """The member's ledger entries, as the built-in ledger lists them (property tests)."""
        return [asdict(entry) for entry in self.ledger.values() if entry.member_id == member_id]

    def points_by_day(self, member_id: str) -> dict[str, int]:
        return self._load(member_id).aged.as_dict()

    # ------------------------------------------------------------------ accounts

    def _owner(self, member_id: str) -> MemberAccount:
        account = self._account(member_id)
        while account.merged_into:
            account = self._account(account.merged_into)
        return account

    def _load(self, member_id: str) -> MemberAccount:
        """The account a member's points live with (A8), settled as of now."""
        acc = self._owner(member_id)
        acc.missing = self.rules.missing_profile_fields(acc.member.profile)
        acc.accumulate_only = acc.member.accumulate_only or bool(acc.missing)  # a test may set it
        acc.card_blocked = self.cards[acc.member.card.number][1] is CardState.BLOCKED  # A10
        return rules.settle(acc, self.clock(), limit=None)

    def _commit(self, acc: Account, *entries: Entry | None) -> None:
        """What the ledger's transaction would write: the entries and the settlement."""
        rules.check_arithmetic(acc)
        for entry in [*rules.settlement_entries(acc), *entries]:
            if entry is not None:
                self.ledger[entry.entry_id] = entry
                self.entry_times.setdefault(entry.entry_id, self.clock())
        acc.closed.clear()
        acc.matured.clear()
        acc.expired = 0
        acc.version += 1

    # ------------------------------------------------------------------ points

    @_port
    def get_balance(self, member_id: str) -> domain.Balance:
        acc = self._load(member_id)
        self._commit(acc)
        return rules.balance(acc, self.rules, self.clock())

    @_port
    def quote(self, member_id: str | None, basket: domain.Basket, *, redeem_points: int = 0) -> domain.Quote:
        rules.check_redeem_points(redeem_points)
        acc = self._load(member_id) if member_id is not None else None
        if acc is not None:
            self._commit(acc)
        owner = acc.member_id if acc else None
        return rules.quote(
            acc, self.rules, basket, redeem_points, lambda: self._coupon_check(owner, basket.promo_code)
        )

    @_port
    def hold_points(
        self,
        member_id: str,
        redemption_id: str,
        points: int,
        *,
        order_total: Any,
        expires_at: datetime,
        currency: str | None = None,
    ) -> domain.Hold:
        acc = self._load(member_id)
        if any(redemption_id in other.holds for other in self.accounts.values() if other is not acc):
            raise errors.PlatformRefused("redemption id already used", code="redemption_id_in_use")
        total = Decimal(str(order_total))
        row, _ = rules.place_hold(
            acc,
            self.rules,
            redemption_id,
            points,
            order_total=total,
            expires_at=expires_at,
            now=self.clock(),
            currency=currency,
        )
        self._commit(acc)
        return row.hold()

    @_port
    def release_hold(self, member_id: str, redemption_id: str) -> None:
        acc = self._load(member_id)
        rules.release_hold(acc, redemption_id, self.clock())
        self._commit(acc)

    def release_expired_holds(self, now: datetime | None = None) -> int:
        moment = now or self.clock()
        released = 0
        for acc in [acc for acc in self.accounts.values() if acc.merged_into is None]:
            for redemption_id in list(acc.holds):
                if rules.release_hold(acc, redemption_id, self.clock(), only_expired_at=moment):
                    released += 1
                    self._commit(acc)
        return released

    def expire_points(self, now: datetime | None = None) -> int:
        """The sweeper (R3): settle every member whose points expired by ``now``; answers
        how many members lost points."""
        touched = 0
        for acc in [acc for acc in self.accounts.values() if acc.merged_into is None]:
            rules.settle(acc, now or self.clock(), limit=None)
            touched += bool(acc.expired)
            self._commit(acc)
        return touched

    # ------------------------------------------------------------------ orders (C4, C5)

    @_port
    def post_order(self, member_id: str, order: domain.PlatformOrder) -> domain.OrderResult:
        first = self.ledger.get(order_rules.order_entry_id(order.order_id))
        if first is not None:
            return domain.OrderResult.model_validate_json(first.result)
        acc = self._load(member_id)
        now = self.clock()
        credited = order_rules.credit_order(
            acc, self.rules, order, pending_days=self.settings.pending_days, now=now
        )
        self.orders[order.order_id] = credited.record
        result, entry = credited.answer(self._use_coupon(acc, order.promo_code))
        self._commit(acc, entry)
        referred_by = order_rules.referrer_owed_bonus(self.rules, acc)
        if referred_by is not None and order_rules.referral_entry_id(acc.member_id) not in self.ledger:
            referrer = self._load(referred_by)
            self._commit(
                referrer, order_rules.credit_referral_bonus(self.rules, referrer, acc.member_id, now)
            )
        return result

    def _coupon(self, promo_code: str | None) -> tuple[MemberAccount, list[Coupon], Coupon] | None:
        """R4: the coupon a promo code names: its holder's owner (A8), the holder's list, it."""
        code = reward_rules.coupon_code(promo_code)
        for holder in self.accounts.values():
            found = order_rules.find_coupon(holder.coupons, code) if code else None
            if found is not None:
                return self._owner(holder.member_id), holder.coupons, found
        return None

    def _coupon_check(self, owner: str | None, promo_code: str | None) -> domain.CouponCheck | None:
        found = self._coupon(promo_code)
        return (
            None if found is None else reward_rules.coupon_check(found[2], yours=found[0].member_id == owner)
        )

    def _use_coupon(self, acc: MemberAccount, promo_code: str | None) -> domain.CouponStanding | None:
        found = self._coupon(promo_code)
        if found is None:
            return None
        holder_owner, issued, coupon = found
        used, refused = order_rules.use_coupon(coupon, yours=holder_owner is acc)
        if used is not None:
            issued[issued.index(coupon)] = used
        return refused

    @_port
    def reverse(self, member_id: str, reversal: domain.Reversal) -> domain.ReversalResult:
        first = self.ledger.get(reversal.key)
        if first is not None:
            return domain.ReversalResult.model_validate_json(first.result)
        acc = self._load(member_id)
        stored = self.orders.get(reversal.order_id)
        owner = self._owner(stored.member_id).member_id if stored is not None else None
        record = order_rules.order_of(acc, stored, owner)
        outcome = order_rules.reverse_order(acc, record, reversal, self.clock())
        self._commit(acc, outcome.entry)
        return outcome.result

    # ------------------------------------------------------------------ rewards (R4)

    @_port
    def rewards(self) -> list[domain.Reward]:
        return sorted(self.rules.rewards, key=lambda reward: (reward.points, reward.reward_id))

    @_port
    def redeem_reward(self, member_id: str, reward_id: str, *, idempotency_key: str) -> Coupon:
        first = self.ledger.get(reward_rules.reward_entry_id(idempotency_key))
        if first is not None:
            return Coupon.model_validate_json(first.result)
        reward = reward_rules.reward_to_redeem(self.rules, reward_id)
        acc = self._load(member_id)
        code = reward_rules.new_coupon_code()
        coupon, entry = reward_rules.redeem_reward(
            acc, reward, code=code, key=idempotency_key, now=self.clock()
        )
        acc.coupons.append(coupon)
        self._commit(acc, entry)
        return coupon

    @_port
    def coupons(self, member_id: str) -> list[Coupon]:
        return list(reversed(self._owner(member_id).coupons))

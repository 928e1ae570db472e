"""InMemoryPlatform: a complete, honest LoyaltyPlatform in memory (re-exported by tests/fakes.py).

It follows the same rules as the built-in ledger (adapters/ledger.py) and runs in the
contract suite next to it, so unit tests built on it see real platform behaviour:
earn rules from services/earn_rules (quote == credit), holds that expire, pending points,
replays that answer like the first time, proportional refunds, shortfalls, A4/A8 rules,
points that expire oldest first (R3, services/point_lots), accumulate-only members (A9),
rewards and coupons (R4), referral codes and bonuses (R5).

Test helpers: ``fail_next(method, exc, times=1)`` injects a failure, ``calls`` records
every port call, ``import_physical_cards`` adds card stock, ``clock.advance`` moves time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from loyalty_bridge.errors import (
    CardNotAttachable,
    DuplicateMember,
    InsufficientPoints,
    InvalidInput,
    MemberNotFound,
    PlatformRefused,
    PlatformUnavailable,
    ProfileIncomplete,
    RewardNotFound,
)
from loyalty_bridge.models.card_stock import CardImportResult
from loyalty_bridge.models.domain import (
    Balance,
    Basket,
    Card,
    CardKind,
    CardState,
    Consents,
    Coupon,
    CouponCheck,
    CouponStanding,
    CouponStatus,
    Hold,
    Member,
    MemberProfile,
    OrderResult,
    PlatformOrder,
    ProfileChanges,
    Quote,
    Reversal,
    ReversalResult,
    Reward,
)
from loyalty_bridge.models.loyalty_profile import LoyaltyProfile
from loyalty_bridge.privacy import normalize_email
from loyalty_bridge.services import card_numbers
from loyalty_bridge.services.card_stock import result as card_stock_result
from loyalty_bridge.services.card_stock import screen
from loyalty_bridge.services.earn_rules import (
    Earn,
    EarnInput,
    ProgramRules,
    earn,
    load_rules,
    merge_refund_lines,
    refund_amount,
    reversal_points,
)
from loyalty_bridge.services.point_lots import PointLots
from loyalty_bridge.services.referrals import new_referral_code, normalize_referral_code
from loyalty_bridge.services.rewards import coupon_check, coupon_code, new_coupon_code
from loyalty_bridge.settings import Settings


class FakeClock:
    """A settable UTC clock: ``clock()`` is now, ``clock.advance(minutes=5)`` moves it."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2025, 1, 15, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class _Account:
    member: Member
    available: int = 0  # balance minus held
    held: int = 0
    lifetime_spend: Decimal = Decimal(0)
    merged_into: str | None = None
    lots: PointLots = field(default_factory=PointLots)  # balance by credit day (R3)
    referred_by: str | None = None  # R5: the referrer's member id
    expiries: int = 0


@dataclass
class _HoldState:
    hold: Hold
    state: str = "open"  # open | captured | released


@dataclass
class _OrderState:
    member_id: str
    earn: Earn
    redeemed: int
    reversed_qty: dict[str, int] = field(default_factory=dict)
    order_points_reversed: bool = False
    returned: int = 0


@dataclass
class _Lot:
    order_id: str
    points: int
    available_at: datetime


class InMemoryPlatform:
    """LoyaltyPlatform in memory. Not thread-safe (unit tests)."""

    def __init__(
        self,
        settings: Settings | None = None,
        rules: ProgramRules | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.rules = rules or load_rules(self.settings)
        self.clock: Callable[[], datetime] = clock or FakeClock()
        self.accounts: dict[str, _Account] = {}
        self.cards: dict[str, tuple[CardKind, CardState, str | None]] = {}  # number -> kind, state, member
        self.emails: dict[str, str] = {}
        self.requests: dict[str, Any] = {}  # idempotency key -> first answer
        self.entries: dict[str, tuple[str, int, int]] = {}  # entry id -> member, delta, pending delta
        self.holds: dict[str, _HoldState] = {}
        self.orders: dict[str, _OrderState] = {}
        self.order_results: dict[str, OrderResult] = {}
        self.reversals: dict[str, ReversalResult] = {}
        self.lots: dict[str, list[_Lot]] = {}  # member -> pending lots
        self.referral_codes: dict[str, str] = {}  # code -> member id (R5)
        self.coupon_list: dict[str, list[Coupon]] = {}  # member -> coupons, oldest first (R4)
        self.rewarded: dict[str, Coupon] = {}  # redeem idempotency key -> coupon
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._failures: dict[str, list[BaseException]] = {}
        self._lost_replies: dict[str, int] = {}
        self.create_bodies: dict[str, tuple[MemberProfile, Consents]] = {}  # key -> first body
        self._ids = 0

    # ------------------------------------------------------------------ test helpers

    def fail_next(self, method: str, exc: BaseException, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` raise ``exc`` (before doing anything)."""
        self._failures.setdefault(method, []).extend([exc] * times)

    def lose_next_reply(self, method: str, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` do their work, then raise PlatformUnavailable
        (the reply was lost on the way back). Supported by create_member."""
        self._lost_replies[method] = self._lost_replies.get(method, 0) + times

    def _reply_lost(self, method: str) -> bool:
        left = self._lost_replies.get(method, 0)
        if left <= 0:
            return False
        self._lost_replies[method] = left - 1
        return True

    def import_physical_cards(self, numbers: Sequence[str]) -> int:
        added = 0
        for raw in numbers:
            number = card_numbers.normalize(raw)
            if not card_numbers.is_valid(number):
                raise InvalidInput("card number fails the check digit", code="invalid_card_number")
            if number not in self.cards:
                self.cards[number] = (CardKind.PHYSICAL, CardState.UNREGISTERED, None)
                added += 1
        return added

    def balance_of(self, member_id: str) -> int:
        """Sum of ledger entries (what the balance must equal)."""
        return sum(delta for owner, delta, _ in self.entries.values() if owner == member_id)

    def _enter(self, method: str, **kwargs: Any) -> None:
        self.calls.append((method, kwargs))
        queued = self._failures.get(method)
        if queued:
            raise queued.pop(0)

    def _now(self) -> datetime:
        return self.clock()

    def _new_member_id(self) -> str:
        self._ids += 1
        return f"m{self._ids:06d}"

    # ------------------------------------------------------------------ members

    def create_member(
        self,
        profile: MemberProfile,
        consents: Consents,
        *,
        idempotency_key: str,
        referral_code: str | None = None,
    ) -> Member:
        self._enter(
            "create_member",
            profile=profile,
            consents=consents,
            idempotency_key=idempotency_key,
            referral_code=referral_code,
        )
        key = f"create:{idempotency_key}"
        if key in self.requests:
            body = self.create_bodies.get(key)
            if body is not None and body != (profile, consents):
                # As the REST platform: one key, one request body.
                raise PlatformRefused("This key was used for another request.", code="idempotency_key_reused")
            first: Member = self.requests[key]
            return self._member(first.member_id)
        email = normalize_email(profile.email)
        if not email:
            raise InvalidInput("email is required")
        if email in self.emails:
            raise DuplicateMember(field="email")
        number = card_numbers.new_virtual_number()
        while number in self.cards:
            number = card_numbers.new_virtual_number()
        member = Member(
            member_id=self._new_member_id(),
            profile=profile,
            consents=consents,
            card=Card(number=number, kind=CardKind.VIRTUAL, state=CardState.ACTIVE),
        )
        self._store_new(member, email)
        referrer = self.referral_codes.get(normalize_referral_code(referral_code or ""))
        if referrer is not None:
            self.accounts[member.member_id].referred_by = referrer
        self.requests[key] = member
        self.create_bodies[key] = (profile, consents)
        if self._reply_lost("create_member"):
            raise PlatformUnavailable("the reply was lost")
        return self._member(member.member_id)

    def _store_new(self, member: Member, email: str) -> None:
        code = new_referral_code()
        while code in self.referral_codes:
            code = new_referral_code()
        self.referral_codes[code] = member.member_id
        self.accounts[member.member_id] = _Account(member=member.model_copy(update={"referral_code": code}))
        self.cards[member.card.number] = (member.card.kind, CardState.ACTIVE, member.member_id)
        self.emails[email] = member.member_id

    def _account(self, member_id: str) -> _Account:
        account = self.accounts.get(member_id)
        if account is None:
            raise MemberNotFound(code="member_not_found")
        return account

    def _owner(self, member_id: str) -> _Account:
        account = self._account(member_id)
        while account.merged_into:
            account = self._account(account.merged_into)
        return account

    def _member(self, member_id: str) -> Member:
        account = self._account(member_id)
        tier = self.rules.tier_for(account.lifetime_spend)
        kind, state, _ = self.cards[account.member.card.number]
        return account.member.model_copy(
            update={
                "card": Card(number=account.member.card.number, kind=kind, state=state),
                "tier": tier.name if tier else None,
                "accumulate_only": self._accumulate_only(account),
            }
        )

    def get_member(self, member_id: str) -> Member:
        self._enter("get_member", member_id=member_id)
        return self._member(member_id)

    def find_members(
        self, *, card_number: str | None = None, email: str | None = None, mobile: str | None = None
    ) -> list[Member]:
        self._enter("find_members", card_number=card_number, email=email, mobile=mobile)
        if card_number is None and email is None and mobile is None:
            raise InvalidInput("give a card number, an email or a mobile")
        found: set[str] | None = None
        if card_number is not None:
            entry = self.cards.get(card_numbers.normalize(card_number))
            found = {entry[2]} if entry and entry[2] else set()
        if email is not None:
            owner = self.emails.get(normalize_email(email))
            ids = {owner} if owner else set()
            found = ids if found is None else found & ids
        if mobile is not None:
            ids = {mid for mid, acc in self.accounts.items() if acc.member.profile.mobile == mobile}
            found = ids if found is None else found & ids
        return [self._member(mid) for mid in sorted(found or set())]

    def attach_card(self, card_number: str, profile: MemberProfile, *, idempotency_key: str) -> Member:
        self._enter("attach_card", card_number=card_number, profile=profile, idempotency_key=idempotency_key)
        key = f"attach:{idempotency_key}"
        if key in self.requests:
            return self._member(self.requests[key])
        number = card_numbers.normalize(card_number)
        entry = self.cards.get(number) if card_numbers.is_valid(number) else None
        if entry is None:
            raise CardNotAttachable()
        kind, state, member_id = entry
        email = normalize_email(profile.email)
        if state == CardState.UNREGISTERED:
            if not email or email in self.emails:
                raise CardNotAttachable()
            member = Member(
                member_id=self._new_member_id(),
                profile=profile,
                card=Card(number=number, kind=kind, state=CardState.ACTIVE),
            )
            self._store_new(member, email)
            self.requests[key] = member.member_id
            return self._member(member.member_id)
        if state != CardState.ACTIVE or member_id is None:
            raise CardNotAttachable()
        if normalize_email(self._account(member_id).member.profile.email) != email:
            raise CardNotAttachable()
        self.requests[key] = member_id
        return self._member(member_id)

    def merge_cards(self, primary_card: str, cards: Sequence[str], *, idempotency_key: str) -> Member:
        self._enter(
            "merge_cards", primary_card=primary_card, cards=list(cards), idempotency_key=idempotency_key
        )
        key = f"merge:{idempotency_key}"
        if key in self.requests:
            return self._member(self.requests[key])
        primary = self._active_card_member(primary_card)
        mobile = primary.member.profile.mobile
        others: list[_Account] = []
        for raw in cards:
            other = self._active_card_member(raw)
            if other.member.member_id == primary.member.member_id or other in others:
                continue
            if not mobile or other.member.profile.mobile != mobile or other.held:
                raise CardNotAttachable()
            others.append(other)
        now = self._now()
        self._settle_account(primary, now)
        for other in others:
            self._settle_account(other, now)
            moved = other.available
            entry = f"merge:{idempotency_key}:{other.member.member_id}"
            self.entries[f"{entry}:out"] = (other.member.member_id, -moved, 0)
            self.entries[f"{entry}:in"] = (primary.member.member_id, moved, 0)
            primary.available += moved
            other.available = 0
            primary.lifetime_spend += other.lifetime_spend
            other.lifetime_spend = Decimal(0)
            primary.lots.absorb(other.lots)
            lots = self.lots.pop(other.member.member_id, [])
            self.lots.setdefault(primary.member.member_id, []).extend(lots)
            for lot in lots:
                self.entries[f"{entry}:pending:{lot.order_id}:out"] = (other.member.member_id, 0, -lot.points)
                self.entries[f"{entry}:pending:{lot.order_id}:in"] = (primary.member.member_id, 0, lot.points)
            kind, _, mid = self.cards[other.member.card.number]
            self.cards[other.member.card.number] = (kind, CardState.BLOCKED, mid)
            other.merged_into = primary.member.member_id
            self.emails.pop(normalize_email(other.member.profile.email), None)  # A8: frees the address
        self.requests[key] = primary.member.member_id
        return self._member(primary.member.member_id)

    def _active_card_member(self, raw: str) -> _Account:
        entry = self.cards.get(card_numbers.normalize(raw))
        if entry is None or entry[1] != CardState.ACTIVE or entry[2] is None:
            raise CardNotAttachable()
        return self._account(entry[2])

    def update_profile(self, member_id: str, changes: ProfileChanges, *, idempotency_key: str) -> Member:
        self._enter("update_profile", member_id=member_id, changes=changes, idempotency_key=idempotency_key)
        key = f"update:{idempotency_key}"
        if key in self.requests:
            first: Member = self.requests[key]
            return first
        account = self._account(member_id)
        update = {name: getattr(changes, name) for name in changes.model_fields_set}
        update = {k: v for k, v in update.items() if v is not None}
        old_email = normalize_email(account.member.profile.email)
        if "email" in update:
            new_email = normalize_email(update["email"])
            if not new_email:
                raise InvalidInput("email must not be blank")
            if self.emails.get(new_email, member_id) != member_id:
                raise DuplicateMember(field="email")
            self.emails.pop(old_email, None)
            self.emails[new_email] = member_id
        profile = account.member.profile.model_copy(update=update)
        account.member = account.member.model_copy(update={"profile": profile})
        result = self._member(member_id)
        self.requests[key] = result
        return result

    def set_consents(self, member_id: str, consents: Consents, *, idempotency_key: str) -> None:
        self._enter("set_consents", member_id=member_id, consents=consents, idempotency_key=idempotency_key)
        account = self._account(member_id)
        key = f"consents:{idempotency_key}"
        if key in self.requests:
            return
        account.member = account.member.model_copy(update={"consents": consents})
        self.requests[key] = True

    # ------------------------------------------------------------------ balances

    def _mature(self, account: _Account, now: datetime) -> None:
        member_id = account.member.member_id
        lots = self.lots.get(member_id, [])
        for lot in [lot for lot in lots if lot.available_at <= now]:
            lots.remove(lot)
            account.available += lot.points
            account.lots.credit(lot.available_at, lot.points)
            self.entries[f"mature:{lot.order_id}"] = (member_id, lot.points, -lot.points)

    def _release_expired(self, account: _Account, now: datetime) -> None:
        for state in self.holds.values():
            if (
                state.state == "open"
                and state.hold.member_id == account.member.member_id
                and state.hold.expires_at <= now
            ):
                self._release(account, state, why="expired")

    def _release(self, account: _Account, state: _HoldState, *, why: str = "released") -> None:
        state.state = why
        account.held -= state.hold.points
        account.available += state.hold.points

    def _expire(self, account: _Account, now: datetime) -> int:
        """R3: points past their expiry go, oldest first (held points wait for their hold)."""
        expired = account.lots.expire(now, self.rules.expiry_months, account.available)
        if expired:
            account.available -= expired
            account.expiries += 1
            member_id = account.member.member_id
            self.entries[f"expire:{member_id}:{account.expiries}"] = (member_id, -expired, 0)
        return expired

    def _settle_account(self, account: _Account, now: datetime) -> int:
        self._mature(account, now)
        self._release_expired(account, now)
        return self._expire(account, now)

    def _settle(self, member_id: str) -> _Account:
        account = self._owner(member_id)
        self._settle_account(account, self._now())
        return account

    def _debit(self, account: _Account, points: int) -> None:
        """``points`` are about to leave the balance: the oldest lots go first. Call before
        changing ``available`` / ``held``."""
        account.lots.spend(points, account.available + account.held)

    def _balance(self, account: _Account) -> Balance:
        lots = sorted(self.lots.get(account.member.member_id, []), key=lambda lot: lot.available_at)
        tier = self.rules.tier_for(account.lifetime_spend)
        nxt = self.rules.next_tier(account.lifetime_spend)
        expiring, expiry_on = account.lots.next_expiry(self._now(), self.rules.expiry_months)
        return Balance(
            member_id=account.member.member_id,
            balance=account.available + account.held,
            held=account.held,
            pending=sum(lot.points for lot in lots),
            next_expiry_points=expiring,
            next_expiry_on=expiry_on,
            tier=tier.name if tier else None,
            next_tier=nxt.name if nxt else None,
            spend_to_next_tier=(nxt.min_spend - account.lifetime_spend) if nxt else None,
            lifetime_spend=account.lifetime_spend,
            accumulate_only=self._accumulate_only(account),
            referral_code=account.member.referral_code,
        )

    def get_balance(self, member_id: str) -> Balance:
        self._enter("get_balance", member_id=member_id)
        return self._balance(self._settle(member_id))

    def release_expired_holds(self, now: datetime | None = None) -> int:
        moment = now or self._now()
        released = 0
        for state in self.holds.values():
            if state.state == "open" and state.hold.expires_at <= moment:
                self._release(self._owner(state.hold.member_id), state, why="expired")
                released += 1
        return released

    def expire_points(self, now: datetime | None = None) -> int:
        """The sweeper (R3): settle every member whose points expired by ``now``; answers
        how many members lost points."""
        moment = now or self._now()
        touched = 0
        for account in self.accounts.values():
            if account.merged_into is None and self._settle_account(account, moment):
                touched += 1
        return touched

    def lots_of(self, member_id: str) -> dict[str, int]:
        """Test helper: the member's balance by credit day (R3)."""
        return self._owner(member_id).lots.as_dict()

    # ------------------------------------------------------------------ checkout

    def quote(self, member_id: str | None, basket: Basket, *, redeem_points: int = 0) -> Quote:
        self._enter("quote", member_id=member_id, basket=basket, redeem_points=redeem_points)
        if redeem_points < 0:
            raise InvalidInput("redeem_points must not be negative")
        account = self._settle(member_id) if member_id is not None else None
        spend = account.lifetime_spend if account else Decimal(0)
        available = account.available if account else 0
        if account is not None and self._accumulate_only(account):
            if redeem_points:
                raise self._incomplete(account)
            available = 0  # A9: earning, not redeeming
        amount = EarnInput.from_basket(basket).subtotal - basket.discount
        redeemable = self.rules.redeemable_points(available, amount, spend)
        if redeem_points > redeemable:
            raise InsufficientPoints(f"at most {redeemable} points can be redeemed on this order")
        discount = self.rules.discount_for(redeem_points, spend)
        earned = earn(self.rules, EarnInput.from_basket(basket, discount), spend)
        return Quote(
            points_to_earn=earned.points,
            balance=(account.available + account.held) if account else 0,
            redeemable_points=redeemable,
            point_value=self.rules.point_value_for(spend),
            max_discount=self.rules.discount_for(redeemable, spend),
            discount=discount,
            coupon=self._coupon_check(account.member.member_id if account else None, basket.promo_code),
        )

    def hold_points(
        self, member_id: str, redemption_id: str, points: int, *, order_total: Any, expires_at: datetime
    ) -> Hold:
        self._enter(
            "hold_points",
            member_id=member_id,
            redemption_id=redemption_id,
            points=points,
            order_total=order_total,
            expires_at=expires_at,
        )
        existing = self.holds.get(redemption_id)
        account = self._settle(member_id)
        if existing is not None:
            if existing.hold.member_id != account.member.member_id:
                raise PlatformRefused("redemption id already used", code="redemption_id_in_use")
            return existing.hold
        if points <= 0:
            raise InvalidInput("points to hold must be positive")
        if expires_at <= self._now():
            raise InvalidInput("a hold must expire in the future")
        if self._accumulate_only(account):
            raise self._incomplete(account)
        total = Decimal(str(order_total))
        if points > account.available:
            raise InsufficientPoints("not enough points")
        if points > self.rules.redeemable_points(points, total, account.lifetime_spend):
            raise InsufficientPoints("points exceed the share of the order payable with points")
        hold = Hold(
            redemption_id=redemption_id,
            member_id=account.member.member_id,
            points=points,
            discount=self.rules.discount_for(points, account.lifetime_spend),
            expires_at=expires_at,
        )
        account.available -= points
        account.held += points
        self.holds[redemption_id] = _HoldState(hold=hold)
        return hold

    def release_hold(self, member_id: str, redemption_id: str) -> None:
        self._enter("release_hold", member_id=member_id, redemption_id=redemption_id)
        account = self._settle(member_id)
        state = self.holds.get(redemption_id)
        if state is None or state.hold.member_id != account.member.member_id or state.state != "open":
            return
        self._release(account, state)

    def post_order(self, member_id: str, order: PlatformOrder) -> OrderResult:
        self._enter("post_order", member_id=member_id, order=order)
        if order.order_id in self.order_results:
            return self.order_results[order.order_id]
        account = self._settle(member_id)
        owner = account.member.member_id
        redeemed = 0
        if order.redemption_id is not None:
            state = self.holds.get(order.redemption_id)
            if state is None or state.hold.member_id != owner:
                raise PlatformRefused("no hold for this redemption", code="hold_not_found")
            lapsed = state.state == "expired" and account.available >= state.hold.points
            if state.state != "open" and not lapsed:
                raise PlatformRefused("the hold expired or was released", code="hold_expired")
            redeemed = state.hold.points
        earned = earn(self.rules, EarnInput.from_order(order), account.lifetime_spend)
        if redeemed and state.state == "open":
            state.state = "captured"
            self._debit(account, redeemed)
            account.held -= redeemed
        elif redeemed:  # C2: the hold lapsed before the order came; the points are spent directly
            self._debit(account, redeemed)
            account.available -= redeemed
        available_at = order.placed_at + timedelta(days=self.settings.pending_days)
        pending = earned.points if available_at > self._now() and earned.points else 0
        if pending:
            self.lots.setdefault(owner, []).append(
                _Lot(order_id=order.order_id, points=pending, available_at=available_at)
            )
        else:
            account.available += earned.points
            account.lots.credit(self._now(), earned.points)
        account.lifetime_spend += earned.base
        self.entries[f"order:{order.order_id}"] = (owner, earned.points - pending - redeemed, pending)
        self.orders[order.order_id] = _OrderState(member_id=owner, earn=earned, redeemed=redeemed)
        result = OrderResult(
            order_id=order.order_id,
            points_earned=earned.points,
            points_redeemed=redeemed,
            balance=account.available + account.held,
            coupon_refused=self._use_coupon(owner, order.promo_code),
        )
        self.order_results[order.order_id] = result
        self._credit_referrer(account)
        return result

    def _coupon(self, promo_code: str | None) -> tuple[str, list[Coupon], int] | None:
        """R4: the coupon a promo code names: its holder's owner, the holder's list, its index."""
        code = coupon_code(promo_code)
        for holder, issued in self.coupon_list.items():
            for n, coupon in enumerate(issued):
                if code and coupon.code == code:
                    return self._owner(holder).member.member_id, issued, n
        return None

    def _coupon_check(self, owner: str | None, promo_code: str | None) -> CouponCheck | None:
        found = self._coupon(promo_code)
        if found is None:
            return None
        holder, issued, n = found
        return coupon_check(issued[n], yours=holder == owner)

    def _use_coupon(self, owner: str, promo_code: str | None) -> CouponStanding | None:
        """R4: the order uses the member's available coupon; answers why it may not otherwise."""
        found = self._coupon(promo_code)
        if found is None:
            return None
        holder, issued, n = found
        status = coupon_check(issued[n], yours=holder == owner).status
        if status is not CouponStanding.AVAILABLE:
            return status
        issued[n] = issued[n].model_copy(update={"status": CouponStatus.USED})
        return None

    def _credit_referrer(self, referred: _Account) -> None:
        """R5: the referred member's first credited order earns the referrer the bonus, once."""
        bonus = self.rules.referral_bonus_points
        referred_id = referred.member.member_id
        entry = f"referral:{referred_id}"
        if not bonus or referred.referred_by is None or entry in self.entries:
            return
        referrer = self._owner(referred.referred_by)
        if referrer is referred:
            return
        self._settle_account(referrer, self._now())
        referrer.available += bonus
        referrer.lots.credit(self._now(), bonus)
        self.entries[entry] = (referrer.member.member_id, bonus, 0)

    def reverse(self, member_id: str, reversal: Reversal) -> ReversalResult:
        self._enter("reverse", member_id=member_id, reversal=reversal)
        key = reversal.key
        if key in self.reversals:
            return self.reversals[key]
        account = self._settle(member_id)
        order = self.orders.get(reversal.order_id)
        if order is None or self._owner(order.member_id) is not account:
            raise PlatformRefused("no such order for this member", code="order_not_found")
        owed, spend_back = 0, Decimal(0)
        whole = reversal.cancel or not reversal.lines
        wanted = merge_refund_lines(reversal.lines)
        for line in order.earn.lines:
            before = order.reversed_qty.get(line.sku, 0)
            quantity = line.quantity if whole else wanted.get(line.sku, 0)
            points, counted = reversal_points(line, before, quantity)
            owed += points
            spend_back += refund_amount(line, before, counted)
            order.reversed_qty[line.sku] = before + counted
        all_back = all(order.reversed_qty.get(ln.sku, 0) >= ln.quantity for ln in order.earn.lines)
        if all_back and not order.order_points_reversed:
            owed += order.earn.order_points
            order.order_points_reversed = True
        returned = order.redeemed - order.returned if reversal.cancel else 0
        order.returned += returned
        account.available += returned
        account.lots.credit(self._now(), returned)
        # Take back from the order's still-pending points first, then from the balance.
        from_pending = 0
        for lot in list(self.lots.get(account.member.member_id, [])):
            if lot.order_id == reversal.order_id:
                from_pending = min(lot.points, owed)
                lot.points -= from_pending
                if lot.points == 0:
                    self.lots[account.member.member_id].remove(lot)
        from_balance = min(owed - from_pending, account.available)
        self._debit(account, from_balance)
        account.available -= from_balance
        account.lifetime_spend = max(account.lifetime_spend - spend_back, Decimal(0))
        self.entries[key] = (
            account.member.member_id,
            returned - from_balance,
            -from_pending,
        )
        result = ReversalResult(
            points_reversed=from_pending + from_balance,
            points_returned=returned,
            shortfall=owed - from_pending - from_balance,
            balance=account.available + account.held,
        )
        self.reversals[key] = result
        return result

    # ------------------------------------------------------------------ rewards (R4)

    def _accumulate_only(self, account: _Account) -> bool:
        """A9 by the program's required fields (or set on the stored member by a test)."""
        return account.member.accumulate_only or self.rules.accumulate_only(account.member.profile)

    def _incomplete(self, account: _Account) -> ProfileIncomplete:
        missing = self.rules.missing_profile_fields(account.member.profile)
        return ProfileIncomplete("complete the profile to redeem points", missing=missing)

    def rewards(self) -> list[Reward]:
        self._enter("rewards")
        return sorted(self.rules.rewards, key=lambda reward: (reward.points, reward.reward_id))

    def redeem_reward(self, member_id: str, reward_id: str, *, idempotency_key: str) -> Coupon:
        self._enter(
            "redeem_reward", member_id=member_id, reward_id=reward_id, idempotency_key=idempotency_key
        )
        if idempotency_key in self.rewarded:
            return self.rewarded[idempotency_key]
        reward = self.rules.reward(reward_id)
        if reward is None:
            raise RewardNotFound("no such reward")
        account = self._settle(member_id)
        if self._accumulate_only(account):
            raise self._incomplete(account)
        if reward.points > account.available:
            raise InsufficientPoints("not enough points for this reward")
        owner = account.member.member_id
        self._debit(account, reward.points)
        account.available -= reward.points
        coupon = Coupon(
            code=new_coupon_code(),
            member_id=owner,
            reward_id=reward.reward_id,
            name=reward.name,
            kind=reward.kind,
            value=reward.value,
            points=reward.points,
            issued_at=self._now(),
        )
        self.entries[f"reward:{idempotency_key}"] = (owner, -reward.points, 0)
        self.coupon_list.setdefault(owner, []).append(coupon)
        self.rewarded[idempotency_key] = coupon
        return coupon

    def coupons(self, member_id: str) -> list[Coupon]:
        self._enter("coupons", member_id=member_id)
        owner = self._owner(member_id).member.member_id
        return list(reversed(self.coupon_list.get(owner, [])))

    # ------------------------------------------------------------------ card stock, profile read

    def import_cards(self, batch_id: str, numbers: Sequence[str]) -> CardImportResult:
        """Card stock, idempotent by number (services.card_stock.screen decides validity)."""
        self._enter("import_cards", batch_id=batch_id, numbers=list(numbers))
        screened = screen(numbers)
        imported = 0
        for number in screened.valid:
            if number not in self.cards:
                self.cards[number] = (CardKind.PHYSICAL, CardState.UNREGISTERED, None)
                imported += 1
        return card_stock_result(batch_id, imported, len(screened.valid) - imported, screened.invalid)

    def member_profile(self, member_id: str) -> LoyaltyProfile:
        self._enter("member_profile", member_id=member_id)
        member = self.get_member(member_id)
        missing = self.rules.missing_profile_fields(member.profile)
        return LoyaltyProfile(member_id=member.member_id, profile=member.profile, missing_fields=missing)

"""The built-in platform's account rules, once: pure code over plain values.

An ``Account`` is one member's points as read: available and held points, pending lots
(the return window), open and closed holds (C2), the balance by credit day (R3,
point_lots) and lifetime spend (tiers). The functions here change an account in memory
and answer what happened (entries, results, refusals as domain errors); they do no I/O.
The built-in ledger (adapters/ledger) loads a partition, calls them and writes the
changes in one transaction; the test platform (tests/fake_platform.py) keeps its accounts
in memory and calls the same functions, so both follow one set of rules.

Settlement comes first on every write and read (``settle``): holds past their expiry give
their points back, pending points whose return window closed become available, then
points past their expiry are written off (only as far as they are available). What a
settlement changed is kept on the account (``closed``, ``matured``, ``expired``) for the
next write to persist.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_DOWN, Decimal

from loyalty_bridge.errors import (
    CardBlocked,
    CardNotAttachable,
    InsufficientPoints,
    InvalidInput,
    PlatformRefused,
    ProfileIncomplete,
)
from loyalty_bridge.models.domain import (
    ActivityKind,
    Balance,
    Basket,
    CouponCheck,
    Hold,
    Quote,
)
from loyalty_bridge.program.earn_rules import (
    CENT,
    EarnInput,
    ProgramRules,
    earn,
)
from loyalty_bridge.program.point_lots import PointLots

SETTLE_LIMIT = 20  # expired holds / matured lots settled per write (a transaction has 100 items)
MAX_MERGE = 10  # cards merged into one at once (A8)

OPEN, CAPTURED, RELEASED, EXPIRED = "open", "captured", "released", "expired"


@dataclass(kw_only=True)
class HeldPoints:
    """A redemption hold (C2): open, then captured by its order, released, or expired."""

    redemption_id: str
    member_id: str
    points: int
    discount: Decimal
    expires_at: datetime
    state: str = OPEN
    cart: str | None = None  # the checkout it was placed for: a new hold for it replaces this one

    def hold(self) -> Hold:
        return Hold(
            redemption_id=self.redemption_id,
            member_id=self.member_id,
            points=self.points,
            discount=self.discount,
            expires_at=self.expires_at,
        )


@dataclass(kw_only=True)
class PendingLot:
    """Points an order earned that wait for its return window (``pending_days``)."""

    order_id: str
    points: int
    available_at: datetime


@dataclass(frozen=True, kw_only=True)
class Entry:
    """One ledger entry: keyed by its business id, so it is written once.

    Besides the arithmetic (``delta``, ``pending_delta``) it carries what the history (R8)
    and the daily statistics (R6) read, written with it: ``activity`` (None: not shown, a
    pending lot maturing), the points it brought in and took out, the balance right after
    it and the business ids it names (program/history.py turns these into a sentence)."""

    entry_id: str
    member_id: str
    kind: str  # order | reversal | mature | expire | merge_in | merge_out | referral | reward | adjust
    delta: int  # change of the balance
    pending_delta: int = 0  # change of the pending points
    result: str = ""  # the first answer (JSON), for replays
    activity: ActivityKind | None = None
    points_in: int = 0  # earned, returned, bonus, merged in, credited (pending included)
    points_out: int = 0  # redeemed, reversed, expired, spent on a reward, merged out, debited
    balance_after: int = 0
    order_id: str | None = None
    refund_id: str | None = None
    redemption_id: str | None = None
    reward_id: str | None = None
    store_id: str | None = None
    staff_id: str | None = None
    reason: str | None = None  # an adjustment's reason (admin audit; not in the customer's sentence)
    exchange_rate: Decimal | None = None  # R10: an order in another currency, converted at this rate


@dataclass(kw_only=True)
class Account:
    """One member's points as read, with what the next write must persist."""

    member_id: str
    available: int = 0
    held: int = 0
    lifetime_spend: Decimal = Decimal(0)
    version: int = 0  # of the stored account: orders writes and keys settlement entries
    holds: dict[str, HeldPoints] = field(default_factory=dict)
    lots: dict[str, PendingLot] = field(default_factory=dict)
    aged: PointLots = field(default_factory=PointLots)  # the balance by credit day (R3)
    expiry_months: int | None = None
    missing: list[str] = field(default_factory=list)  # A9: required profile fields not filled
    accumulate_only: bool = False  # A9: earns, cannot redeem
    referral_code: str | None = None  # R5: the member's own code
    referred_by: str | None = None  # R5: the member whose code it signed up with
    card_blocked: bool = False  # A10: the member's card is blocked (lost or stolen)
    # What this write persists besides the account itself:
    closed: list[HeldPoints] = field(default_factory=list)  # holds that stopped being open
    matured: list[PendingLot] = field(default_factory=list)  # lots that became available
    expired: int = 0  # points written off (R3)
    settled_balance: int = 0  # the balance right after the last settlement (its entries' balance_after)

    @property
    def balance(self) -> int:
        return self.available + self.held

    @property
    def pending(self) -> int:
        return sum(lot.points for lot in self.lots.values())


@dataclass(frozen=True, kw_only=True)
class MergeMove:
    entries: list[Entry]
    lots: list[PendingLot]  # pending lots that move to the primary account


# ---------------------------------------------------------------------------- settlement


def settle[A: Account](acc: A, now: datetime, limit: int | None = SETTLE_LIMIT) -> A:
    """Release expired holds, mature pending points, then expire points past their expiry
    (R3). ``limit`` caps how many holds and lots one write may carry (None: all)."""
    lapsed = sorted(
        (row for row in acc.holds.values() if row.state == OPEN and row.expires_at <= now),
        key=lambda row: row.expires_at,
    )
    for row in lapsed[:limit]:
        _close(acc, row, EXPIRED)
    ripe = sorted(
        (lot for lot in acc.lots.values() if lot.available_at <= now), key=lambda lot: lot.available_at
    )
    for lot in ripe[:limit]:
        del acc.lots[lot.order_id]
        acc.available += lot.points
        acc.aged.credit(lot.available_at, lot.points)
        acc.matured.append(lot)
    written_off = acc.aged.expire(now, acc.expiry_months, acc.available)
    acc.available -= written_off
    acc.expired += written_off
    acc.settled_balance = acc.balance
    return acc


def settlement_entries(acc: Account) -> list[Entry]:
    """The entries of what ``settle`` changed: points expired and pending points matured."""
    entries: list[Entry] = []
    if acc.expired:
        # Keyed by the version it settles: a replay of this settlement cannot apply twice.
        entries.append(
            Entry(
                entry_id=f"expire:{acc.member_id}:v{acc.version}",
                member_id=acc.member_id,
                kind="expire",
                delta=-acc.expired,
                activity=ActivityKind.EXPIRED,
                points_out=acc.expired,
                balance_after=acc.settled_balance,
            )
        )
    for lot in acc.matured:
        entries.append(
            Entry(
                entry_id=f"mature:{lot.order_id}",
                member_id=acc.member_id,
                kind="mature",
                delta=lot.points,
                pending_delta=-lot.points,
                balance_after=acc.settled_balance,
                order_id=lot.order_id,
            )
        )
    return entries


def check_arithmetic(acc: Account) -> None:
    """What is written is never negative; the points by day never exceed the balance."""
    if acc.available < 0 or acc.held < 0 or acc.aged.total > acc.balance:
        raise AssertionError("ledger arithmetic produced a negative balance")  # a bug, never data


def _close(acc: Account, row: HeldPoints, state: str) -> None:
    """An open hold ends without its order: its points are available again."""
    row.state = state
    acc.held -= row.points
    acc.available += row.points
    acc.closed.append(row)


def credit(acc: Account, points: int, when: datetime) -> None:
    acc.available += points
    acc.aged.credit(when, points)


def debit(acc: Account, points: int) -> None:
    """``points`` leave the available balance, the oldest first (R3)."""
    acc.aged.spend(points, acc.balance)
    acc.available -= points


def may_redeem(acc: Account) -> None:
    """A9: an accumulate-only member earns but cannot redeem."""
    if acc.accumulate_only:
        raise ProfileIncomplete("complete the profile to redeem points", missing=acc.missing)


def check_card(acc: Account) -> None:
    """A10: a blocked card earns and spends nothing (orders, redeeming quotes, holds,
    rewards) until it is replaced; refunds, releases and expiry go on as before."""
    if acc.card_blocked:
        raise CardBlocked("This card is blocked. Replace it to earn or spend points.")


# ---------------------------------------------------------------------------- reads


def balance(acc: Account, rules: ProgramRules, now: datetime) -> Balance:
    tier = rules.tier_for(acc.lifetime_spend)
    nxt = rules.next_tier(acc.lifetime_spend)
    expiring, expiry_on = acc.aged.next_expiry(now, acc.expiry_months)
    return Balance(
        member_id=acc.member_id,
        balance=acc.balance,
        pending=acc.pending,
        held=acc.held,
        next_expiry_points=expiring,
        next_expiry_on=expiry_on,
        tier=tier.name if tier else None,
        next_tier=nxt.name if nxt else None,
        spend_to_next_tier=(nxt.min_spend - acc.lifetime_spend) if nxt else None,
        lifetime_spend=acc.lifetime_spend,
        accumulate_only=acc.accumulate_only,
        referral_code=acc.referral_code,
    )


def check_redeem_points(redeem_points: int) -> None:
    """A quote's own input, checked before any account is read."""
    if redeem_points < 0:
        raise InvalidInput("redeem_points must not be negative")


def quote(
    acc: Account | None,
    rules: ProgramRules,
    basket: Basket,
    redeem_points: int,
    coupon: Callable[[], CouponCheck | None] = lambda: None,
) -> Quote:
    """C1/C3: what the basket earns and what may be redeemed on it (``acc`` None: a guest);
    ``coupon`` looks up the check of its promo code when that is a loyalty coupon (R4), once
    the quote stands."""
    check_redeem_points(redeem_points)
    rate = rules.exchange_rate(basket.currency)  # R10: before anything else
    spend = acc.lifetime_spend if acc else Decimal(0)
    amount = (EarnInput.from_basket(basket).subtotal - basket.discount) * rate
    available = acc.available if acc else 0
    if acc is not None and acc.card_blocked and redeem_points:
        check_card(acc)
    if acc is not None and acc.accumulate_only:
        if redeem_points:
            may_redeem(acc)
        available = 0  # A9: earning, not redeeming
    blocked = acc is not None and acc.card_blocked
    if blocked:
        available = 0  # A10: a blocked card spends nothing
    redeemable = rules.redeemable_points(available, amount, spend)
    if redeem_points > redeemable:
        raise InsufficientPoints(f"at most {redeemable} points can be redeemed on this order")
    # Discounts in the basket's currency: what the order then shows as its discount.
    discount = rules.to_order_currency(rules.discount_for(redeem_points, spend), rate)
    percent = rules.discount_percent_for(spend)
    if percent is not None and basket.promo_code and rules.promo_code_blocks_earn:
        percent = Decimal(0)  # C3: no double discount
    if percent is not None:  # R9: a discount program: the percentage off, no points
        off = max(EarnInput.from_basket(basket).subtotal - basket.discount, Decimal(0)) * percent / 100
        discount = off.quantize(CENT, rounding=ROUND_DOWN)
    earned = earn(rules, EarnInput.from_basket(basket, discount).converted(rate), spend)
    return Quote(
        points_to_earn=0 if blocked else earned.points,  # A10: nor earns
        balance=acc.balance if acc else 0,
        redeemable_points=redeemable,
        point_value=rules.point_value_for(spend),
        max_discount=rules.to_order_currency(rules.discount_for(redeemable, spend), rate),
        discount=discount,
        coupon=coupon(),
        discount_percent=percent,
        accumulate_only=acc.accumulate_only if acc is not None else None,
        card_blocked=acc.card_blocked if acc is not None else None,
    )


# ---------------------------------------------------------------------------- holds (C2)


def place_hold(
    acc: Account,
    rules: ProgramRules,
    redemption_id: str,
    points: int,
    *,
    order_total: Decimal,
    expires_at: datetime,
    now: datetime,
    currency: str | None = None,
) -> tuple[HeldPoints, bool]:
    """Reserve ``points`` for a checkout; the hold and whether it is new (a replay answers
    the hold it made). ``currency``: the order's (R10; None: the program's); the discount
    is answered in it."""
    existing = acc.holds.get(redemption_id)
    if existing is not None:
        return existing, False
    rate = rules.exchange_rate(currency or rules.currency)
    if points <= 0:
        raise InvalidInput("points to hold must be positive")
    if expires_at <= now:
        raise InvalidInput("a hold must expire in the future")
    check_card(acc)
    may_redeem(acc)
    if points > acc.available:
        raise InsufficientPoints("not enough points")
    if points > rules.redeemable_points(points, order_total * rate, acc.lifetime_spend):
        raise InsufficientPoints("points exceed the share of the order payable with points")
    row = HeldPoints(
        redemption_id=redemption_id,
        member_id=acc.member_id,
        points=points,
        discount=rules.to_order_currency(rules.discount_for(points, acc.lifetime_spend), rate),
        expires_at=expires_at,
    )
    acc.available -= points
    acc.held += points
    acc.holds[redemption_id] = row
    return row, True


def release_hold(
    acc: Account, redemption_id: str, now: datetime, *, only_expired_at: datetime | None = None
) -> bool:
    """Give back the points of an open hold (settling first; a hold that expired by ``now``
    ends as expired). With ``only_expired_at`` (the sweeper) only a hold expired by then.
    False when there was nothing to release: nothing to write."""
    row = acc.holds.get(redemption_id)
    if row is None or row.state != OPEN:
        return False
    if only_expired_at is not None and row.expires_at > only_expired_at:
        return False
    settle(acc, now)
    if row.state == OPEN:  # not already ended by settle (expired)
        _close(acc, row, RELEASED)
    return True


def capture_hold(acc: Account, redemption_id: str) -> tuple[int, HeldPoints | None]:
    """C2: the order that names a hold spends its points: the points redeemed and the hold
    captured (None when none was open).

    An order naming a hold that expired before it arrived (a slow payment, a delayed push)
    spends the points directly when there are enough: the storefront gave the discount. A
    hold the storefront released itself is refused (its discount is gone)."""
    row = acc.holds.get(redemption_id)
    if row is None:
        raise PlatformRefused("no hold for this redemption", code="hold_not_found")
    if row.state == OPEN:
        acc.aged.spend(row.points, acc.balance)
        acc.held -= row.points
        row.state = CAPTURED
        return row.points, row
    if row.state == EXPIRED and acc.available >= row.points:
        debit(acc, row.points)
        return row.points, None
    raise PlatformRefused("the hold expired or was released", code="hold_expired")


# ---------------------------------------------------------------------------- merges (A8)


def check_mergeable(primary_mobile: str | None, other: Account, other_mobile: str | None) -> None:
    """A8: only accounts of the same verified mobile merge, and none with points on hold."""
    if not primary_mobile or other_mobile != primary_mobile or other.held:
        raise CardNotAttachable()


def check_merge_size(others: Sequence[Account]) -> None:
    if len(others) > MAX_MERGE:
        raise PlatformRefused(f"at most {MAX_MERGE} cards can be merged at once", code="too_many_cards")


def merge_into(primary: Account, other: Account, key: str) -> MergeMove:
    """A8: ``other``'s points (with their ages), pending lots and lifetime spend move to
    ``primary``; the entries say so."""
    moved, pending = other.available, other.pending
    primary.available += moved
    primary.lifetime_spend += other.lifetime_spend
    primary.aged.absorb(other.aged)
    other.available = 0
    other.lifetime_spend = Decimal(0)
    lots = list(other.lots.values())
    primary.lots.update(other.lots)
    other.lots = {}
    entry = f"merge:{key}:{other.member_id}"
    entries = [
        Entry(
            entry_id=f"{entry}:out",
            member_id=other.member_id,
            kind="merge_out",
            delta=-moved,
            pending_delta=-pending,
            activity=ActivityKind.MERGED_OUT,
            points_out=moved + pending,
            balance_after=other.balance,
        ),
        Entry(
            entry_id=f"{entry}:in",
            member_id=primary.member_id,
            kind="merge_in",
            delta=moved,
            pending_delta=pending,
            activity=ActivityKind.MERGED_IN,
            points_in=moved + pending,
            balance_after=primary.balance,
        ),
    ]
    return MergeMove(entries=entries, lots=lots)

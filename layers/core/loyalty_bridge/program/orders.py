"""The built-in platform's order rules, once: an order captures its hold (C2) and credits
what it earns (C4), a reversal takes points back with a shortfall (C5), an order uses the
member's coupon (R4) and the referred member's first order pays the referrer (R5).

Pure code over ``program.account`` values, like it (see its docstring).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from loyalty_bridge.errors import PlatformRefused
from loyalty_bridge.models.domain import (
    ActivityKind,
    Coupon,
    CouponStanding,
    CouponStatus,
    OrderResult,
    PlatformOrder,
    Reversal,
    ReversalResult,
)
from loyalty_bridge.program.account import (
    Account,
    Entry,
    HeldPoints,
    PendingLot,
    capture_hold,
    check_card,
    credit,
    debit,
)
from loyalty_bridge.program.earn_rules import (
    Earn,
    EarnInput,
    ProgramRules,
    earn,
    merge_refund_lines,
    refund_amount,
    reversal_points,
)
from loyalty_bridge.program.rewards import coupon_check

REFERRER_SETTLE_LIMIT = 5  # keeps an order that also credits a referrer under 100 items


@dataclass(kw_only=True)
class OrderRecord:
    """What an order earned and what was taken back since (C4, C5)."""

    member_id: str
    earn: Earn
    redeemed: int
    returned: int = 0
    reversed_qty: dict[str, int] = field(default_factory=dict)  # sku -> quantity reversed
    order_points_reversed: bool = False
    version: int = 0  # of the stored record: each reversal writes the next
    store_id: str | None = None  # where it was placed: its refunds count there (R6 stats)


@dataclass(frozen=True, kw_only=True)
class OrderCredit:
    """What an order changed; ``answer`` is its result and entry."""

    order_id: str
    member_id: str
    earned: Earn
    pending: int  # points waiting for the return window
    redeemed: int
    balance: int  # after the order
    record: OrderRecord
    lot: PendingLot | None  # the order's new pending lot
    captured: HeldPoints | None  # the open hold the order captured
    redemption_id: str | None = None
    store_id: str | None = None
    staff_id: str | None = None
    exchange_rate: Decimal | None = None  # R10: the order's currency converted at this rate

    def answer(self, coupon_refused: CouponStanding | None = None) -> tuple[OrderResult, Entry]:
        """The order's result (with the coupon it named and may not use, R4) and its entry."""
        result = OrderResult(
            order_id=self.order_id,
            points_earned=self.earned.points,
            points_redeemed=self.redeemed,
            balance=self.balance,
            coupon_refused=coupon_refused,
        )
        entry = Entry(
            entry_id=order_entry_id(self.order_id),
            member_id=self.member_id,
            kind="order",
            delta=self.earned.points - self.pending - self.redeemed,
            pending_delta=self.pending,
            result=result.model_dump_json(),
            activity=ActivityKind.EARNED
            if self.earned.points or not self.redeemed
            else ActivityKind.REDEEMED,
            points_in=self.earned.points,
            points_out=self.redeemed,
            balance_after=self.balance,
            order_id=self.order_id,
            redemption_id=self.redemption_id,
            store_id=self.store_id,
            staff_id=self.staff_id,
            exchange_rate=self.exchange_rate,
        )
        return result, entry


@dataclass(frozen=True, kw_only=True)
class ReversalOutcome:
    result: ReversalResult
    entry: Entry
    lot: PendingLot | None  # the order's pending lot it took from (points 0: gone)


# ---------------------------------------------------------------------------- orders (C4, C5)


def credit_order(
    acc: Account, rules: ProgramRules, order: PlatformOrder, *, pending_days: int, now: datetime
) -> OrderCredit:
    """An order: capture its hold (C2), credit what it earns (pending while the return
    window is open) and count its spend (tiers, in the program's currency: R10). A blocked
    card's order is refused (A10)."""
    check_card(acc)
    rate = rules.exchange_rate(order.currency)  # refused before anything changes
    redeemed, captured = (
        capture_hold(acc, order.redemption_id) if order.redemption_id is not None else (0, None)
    )
    earned = earn(rules, EarnInput.from_order(order).converted(rate), acc.lifetime_spend)
    available_at = order.placed_at + timedelta(days=pending_days)
    pending = earned.points if earned.points and available_at > now else 0
    lot = None
    if pending:
        lot = PendingLot(order_id=order.order_id, points=pending, available_at=available_at)
        acc.lots[lot.order_id] = lot
    credit(acc, earned.points - pending, now)
    acc.lifetime_spend += earned.base
    record = OrderRecord(member_id=acc.member_id, earn=earned, redeemed=redeemed, store_id=order.store_id)
    return OrderCredit(
        order_id=order.order_id,
        member_id=acc.member_id,
        earned=earned,
        pending=pending,
        redeemed=redeemed,
        balance=acc.balance,
        record=record,
        lot=lot,
        captured=captured,
        redemption_id=order.redemption_id,
        store_id=order.store_id,
        staff_id=order.staff_id,
        exchange_rate=None if rate == 1 else rate,
    )


def order_entry_id(order_id: str) -> str:
    return f"order:{order_id}"


def order_of(acc: Account, order: OrderRecord | None, order_owner: str | None) -> OrderRecord:
    """The order a reversal names, when it is one of this account's: ``order_owner`` is the
    account the order's member's points live with now (A8)."""
    if order is None or order_owner != acc.member_id:
        raise PlatformRefused("no such order for this member", code="order_not_found")
    return order


def reverse_order(acc: Account, order: OrderRecord, reversal: Reversal, now: datetime) -> ReversalOutcome:
    """C5: take back what the refunded lines (or the cancelled order) earned, from the
    order's pending points first, then from the balance; what the balance cannot cover is
    the shortfall. A cancel gives back the points the order redeemed."""
    owed, spend_back = 0, Decimal(0)
    whole = reversal.cancel or not reversal.lines
    wanted = merge_refund_lines(reversal.lines)
    for line in order.earn.lines:
        before = order.reversed_qty.get(line.sku, 0)
        points, counted = reversal_points(line, before, line.quantity if whole else wanted.get(line.sku, 0))
        owed += points
        spend_back += refund_amount(line, before, counted)
        order.reversed_qty[line.sku] = before + counted
    all_back = all(order.reversed_qty.get(ln.sku, 0) >= ln.quantity for ln in order.earn.lines)
    if all_back and not order.order_points_reversed:
        owed += order.earn.order_points
        order.order_points_reversed = True
    returned = order.redeemed - order.returned if reversal.cancel else 0
    order.returned += returned
    credit(acc, returned, now)
    from_pending = 0
    lot = acc.lots.get(reversal.order_id)
    if lot is not None and owed:
        from_pending = min(lot.points, owed)
        lot.points -= from_pending
        if not lot.points:
            del acc.lots[lot.order_id]
    from_balance = min(owed - from_pending, acc.available)
    debit(acc, from_balance)
    acc.lifetime_spend = max(acc.lifetime_spend - spend_back, Decimal(0))
    result = ReversalResult(
        points_reversed=from_pending + from_balance,
        points_returned=returned,
        shortfall=owed - from_pending - from_balance,
        balance=acc.balance,
    )
    entry = Entry(
        entry_id=reversal.key,
        member_id=acc.member_id,
        kind="reversal",
        delta=returned - from_balance,
        pending_delta=-from_pending,
        result=result.model_dump_json(),
        activity=ActivityKind.REVERSED if result.points_reversed or not returned else ActivityKind.RETURNED,
        points_in=returned,
        points_out=result.points_reversed,
        balance_after=acc.balance,
        order_id=reversal.order_id,
        refund_id=None if reversal.cancel else reversal.reversal_id,
        store_id=order.store_id,
    )
    return ReversalOutcome(result=result, entry=entry, lot=lot if from_pending else None)


# ---------------------------------------------------------------------------- coupons (R4)


def find_coupon(coupons: Sequence[Coupon], code: str) -> Coupon | None:
    return next((coupon for coupon in coupons if coupon.code == code), None)


def use_coupon(coupon: Coupon, *, yours: bool) -> tuple[Coupon | None, CouponStanding | None]:
    """R4: an order whose promo code is the member's available coupon uses it (the coupon as
    used); one used already, or another member's, is not used: why, for the order's answer
    (``coupon_check``). Any other promo code is not ours to track (C3 still applies)."""
    status = coupon_check(coupon, yours=yours).status
    if status is not CouponStanding.AVAILABLE:
        return None, status
    return coupon.model_copy(update={"status": CouponStatus.USED}), None


# ---------------------------------------------------------------------------- referrals (R5)


def referral_entry_id(referred_id: str) -> str:
    """Keyed by the referred member: the bonus can only ever be written once."""
    return f"referral:{referred_id}"


def referrer_owed_bonus(rules: ProgramRules, referred: Account) -> str | None:
    """R5: the member whose code ``referred`` signed up with, when the program pays a
    referral bonus (with the referred member's first credited order, once)."""
    return referred.referred_by if rules.referral_bonus_points and referred.referred_by else None


def credit_referral_bonus(
    rules: ProgramRules, referrer: Account, referred_id: str, now: datetime
) -> Entry | None:
    """R5: the referrer (where its points live now, A8) earns the bonus; never a member
    for its own order (two merged accounts)."""
    if referrer.member_id == referred_id:
        return None
    bonus = rules.referral_bonus_points
    credit(referrer, bonus, now)
    return Entry(
        entry_id=referral_entry_id(referred_id),
        member_id=referrer.member_id,
        kind="referral",
        delta=bonus,
        activity=ActivityKind.REFERRAL_BONUS,
        points_in=bonus,
        balance_after=referrer.balance,
    )

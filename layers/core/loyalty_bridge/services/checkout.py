"""Checkout: quote a basket (C1, C3) and hold points for a cart (C2).

The quote sends the platform the basket exactly as the order push will (truncated lines,
order_lines.py), and the platform prices quotes and credits with the same earn rules, so
"you will earn N" is what the order credits.

A hold belongs to a cart: asking again for the same cart (the customer changed the points)
releases the cart's previous hold first, so one cart never stacks holds. Two carts racing
for the same points: the platform lets one win and refuses the other with
InsufficientPoints (409 ``insufficient_points``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol, cast, runtime_checkable

from loyalty_bridge import answers
from loyalty_bridge.errors import CardBlocked, NotFound, ProfileIncomplete, Refused
from loyalty_bridge.models.api_checkout import (
    QuoteCoupon,
    QuoteRequest,
    QuoteResponse,
    RedemptionRequest,
    RedemptionResponse,
)
from loyalty_bridge.models.checkout_records import RedemptionRecord, RedemptionStatus
from loyalty_bridge.models.domain import CardState, Hold, LoyaltyStatus
from loyalty_bridge.models.records import CustomerRecord, utcnow
from loyalty_bridge.observability import MetricName, logger
from loyalty_bridge.ports import (
    CheckoutStore,
    CustomerRepository,
    LoyaltyPlatform,
    Metrics,
    ProgramSource,
    StoreCheck,
)
from loyalty_bridge.privacy import pseudonym
from loyalty_bridge.program.order_lines import as_platform_sees
from loyalty_bridge.services import new_changes
from loyalty_bridge.services.balances import BalanceRecorder
from loyalty_bridge.settings import Settings

Clock = Callable[[], datetime]


def customer_or_404(customers: CustomerRepository, customer_id: str) -> CustomerRecord:
    record = customers.get(customer_id)
    if record is None:
        raise NotFound("No customer with this id.", code="customer_not_found")
    return record


def joined_member_id(record: CustomerRecord) -> str | None:
    """The customer's loyalty member id, when they are joined."""
    if record.status == LoyaltyStatus.JOINED and record.member_id:
        return record.member_id
    return None


def new_redemption_id() -> str:
    return f"rd_{uuid.uuid4().hex}"


def held_answer(redemption_id: str, hold: Hold) -> RedemptionResponse:
    return RedemptionResponse(
        redemption_id=redemption_id,
        points=hold.points,
        discount=hold.discount,
        expires_at=hold.expires_at,
    )


class CheckoutService:
    def __init__(
        self,
        *,
        platform: LoyaltyPlatform,
        customers: CustomerRepository,
        store: CheckoutStore,
        settings: Settings,
        metrics: Metrics,
        clock: Clock = utcnow,
        new_id: Callable[[], str] = new_redemption_id,
        balances: BalanceRecorder | None = None,
        stores: StoreCheck | None = None,
        program: ProgramSource | None = None,
    ) -> None:
        self._balances = balances  # REST: the login summary's balance (services/balances.py)
        self._platform = platform
        # R10: the built-in ledger's program refuses other currencies before anything changes.
        self._program = program
        self._stores = stores  # R6: quotes at unregistered stores are refused
        self._customers = customers
        self._store = store
        # The built-in ledger writes a new hold's redemption record itself (new_changes.py).
        self._records_holds = new_changes.records_changes(platform, store)
        self._settings = settings
        self._metrics = metrics
        self._clock = clock
        self._new_id = new_id

    # ------------------------------------------------------------------ C1, C3

    def quote(self, request: QuoteRequest) -> QuoteResponse:
        if self._stores is not None:
            self._stores.check(request.store_id, request.staff_id)
        member_id = None
        if request.customer_id is not None:
            member_id = joined_member_id(customer_or_404(self._customers, request.customer_id))
        basket = request.to_basket()
        basket = basket.model_copy(update={"lines": [as_platform_sees(line) for line in basket.lines]})
        as_is = self._platform.quote(member_id, basket, redeem_points=0)
        accumulate_only, blocked = as_is.accumulate_only, as_is.card_blocked
        if member_id is not None and (accumulate_only is None or blocked is None):
            # A platform that does not say what it knows of the member: ask it.
            member = self._platform.get_member(member_id)
            accumulate_only, blocked = member.accumulate_only, member.card.state is CardState.BLOCKED
        if blocked and request.redeem_points:
            # A10: said as such (the platform answers the quote without redemption: 0 to earn).
            raise CardBlocked("This loyalty card is blocked: points cannot be redeemed with it.")
        accumulate_only = bool(member_id is not None and accumulate_only)
        redeemable = as_is.redeemable_points if member_id and not accumulate_only else 0
        redeem = min(request.redeem_points, redeemable)
        redeeming = self._platform.quote(member_id, basket, redeem_points=redeem) if redeem else as_is
        # C3 is the bridge's promise whatever the platform's rules: a promo code earns nothing.
        promo = basket.promo_code is not None
        return QuoteResponse(
            points_to_earn=0 if promo else as_is.points_to_earn,
            points_to_earn_with_redemption=0 if promo else redeeming.points_to_earn,
            balance=as_is.balance if member_id else 0,
            redeemable_points=redeemable,
            point_value=as_is.point_value,
            max_discount=as_is.max_discount if redeemable else Decimal(0),
            # R9: a discount program answers its percentage off (no points are redeemed).
            discount=redeeming.discount if redeem else as_is.discount,
            discount_percent=as_is.discount_percent,
            redeem_points=redeem,
            joined=member_id is not None,
            accumulate_only=accumulate_only,
            coupon=QuoteCoupon.model_validate(as_is.coupon.model_dump()) if as_is.coupon else None,
        )

    # ------------------------------------------------------------------ C2

    def hold(self, request: RedemptionRequest) -> RedemptionResponse:
        if self._program is not None and request.currency is not None:
            self._program.current()[1].exchange_rate(request.currency)
        customer = customer_or_404(self._customers, request.customer_id)
        member_id = joined_member_id(customer)
        if member_id is None:
            raise Refused("Only loyalty members can redeem points; join first.", code="not_joined")
        if not isinstance(self._platform, RefusesIncompleteHolds) and (
            self._platform.get_member(member_id).accumulate_only
        ):
            # A9: points keep accruing but cannot be spent until the profile is complete (a
            # platform that refuses such a hold itself is not asked for the member first).
            raise ProfileIncomplete("Complete your profile to redeem points.")
        redemption_id = self._new_id()
        if not self._records_holds:
            # One hold per cart: the cart's pointer names its hold. (The built-in ledger
            # releases the cart's hold in the new hold's own transaction instead.)
            previous = self._store.swap_cart_redemption(request.customer_id, request.cart_id, redemption_id)
            if previous:
                self.release(previous, missing_ok=True)
        expires_at = self._clock() + timedelta(minutes=self._settings.hold_minutes)
        hold = self._hold_recorded(request, member_id, redemption_id, expires_at)
        self._balance_moved(member_id, request.customer_id)
        self._metrics.count(MetricName.REDEMPTIONS_HELD)
        logger.info(
            "points held",
            extra={
                "customer": pseudonym(request.customer_id),
                "redemption_id": redemption_id,
                "points": hold.points,
            },
        )
        return held_answer(redemption_id, hold)

    def _hold_recorded(
        self, request: RedemptionRequest, member_id: str, redemption_id: str, expires_at: datetime
    ) -> Hold:
        """The platform's hold and the bridge's redemption record of it (the built-in ledger
        writes that record in the hold's own transaction)."""

        def record_of(hold: Hold) -> RedemptionRecord:
            return RedemptionRecord(
                redemption_id=redemption_id,
                customer_id=request.customer_id,
                member_id=member_id,
                cart_id=request.cart_id,
                points=hold.points,
                discount=hold.discount,
                expires_at=hold.expires_at,
            )

        written = False
        if self._records_holds:
            platform = cast("new_changes.RecordsNewChanges", self._platform)
            store = cast("new_changes.ChangeRecordItems", self._store)
            hold, written = platform.hold_points_recorded(
                member_id,
                redemption_id,
                request.points,
                order_total=request.order_total,
                expires_at=expires_at,
                currency=request.currency,
                # The request's answer rides along (answers.py).
                record=lambda got: [
                    *store.redemption_items(record_of(got)),
                    *answers.items(held_answer(redemption_id, got)),
                ],
                cart=json.dumps([request.customer_id, request.cart_id]),
                released=store.released_redemption_items,
            )
        else:
            hold = self._platform.hold_points(
                member_id,
                redemption_id,
                request.points,
                order_total=request.order_total,
                expires_at=expires_at,
                currency=request.currency,
            )
        if not written:
            self._store.put_redemption(record_of(hold))
        return hold

    def release(self, redemption_id: str, *, missing_ok: bool = False) -> None:
        """Give the held points back. Releasing twice, or a hold already spent, is a no-op."""
        record = self._store.get_redemption(redemption_id)
        if record is None:
            if missing_ok:
                return
            raise NotFound("No redemption with this id.", code="redemption_not_found")
        if record.status != RedemptionStatus.HELD:
            return
        self._platform.release_hold(record.member_id, redemption_id)
        self._store.set_redemption_status(redemption_id, RedemptionStatus.RELEASED)
        self._balance_moved(record.member_id, record.customer_id)
        logger.info("hold released", extra={"redemption_id": redemption_id})

    def _balance_moved(self, member_id: str, customer_id: str | None) -> None:
        """Held points are not redeemable: the summary shows a hold or release at once."""
        if self._balances is not None:
            self._balances.moved(member_id, customer_id=customer_id)


@runtime_checkable
class RefusesIncompleteHolds(Protocol):
    """A platform whose ``hold_points`` itself refuses an accumulate-only member (A9) with
    ProfileIncomplete, from the account it reads to place the hold (the built-in ledger):
    the checkout needs no read of the member first."""

    refuses_holds_of_incomplete_profiles: bool


@runtime_checkable
class ExpiringHolds(Protocol):
    """A platform that keeps holds itself and must be told to let expired ones go (the
    built-in ledger). External platforms expire holds on their side."""

    def release_expired_holds(self, now: datetime) -> int: ...


def sweep_expired_holds(platform: object, now: datetime) -> int | None:
    """Release every hold that expired by ``now``; None when the platform expires holds itself."""
    if not isinstance(platform, ExpiringHolds):
        logger.info("holds expire on the platform side", extra={"platform": type(platform).__name__})
        return None
    released = platform.release_expired_holds(now)
    logger.info("expired holds released", extra={"released": released, "now": now.isoformat()})
    return released

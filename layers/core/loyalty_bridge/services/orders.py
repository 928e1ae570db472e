"""Orders: credit points at once (C4), refunds and cancellations (C5), exactly once (C6).

``POST /v1/orders`` stores the order (BridgeTable) and, for a joined customer, calls the
platform within a short deadline so the storefront can show the new balance. When the
platform is slow or down the order goes to the OrderQueue (202) and the order worker settles
it. Guests and customers without a loyalty account are accepted with 0 points. A customer
whose account is being created (``pending``) has the order wait in the queue until joined.

Exactly once: every platform write carries a business key (order id, refund id,
``cancel:{order_id}``) that the platform treats as a no-op on replay, the order's credit is
stored once, and a repeated order answers with the points of the first credit.

An order (or a refund) the platform refuses, or that runs out of retries, becomes a
**New Order Error**: stored, emailed once, and replayable (``{"queue": "order", ...}``).
The queue's messages and those error records are built in order_messages.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from pydantic import BaseModel

from loyalty_bridge import answers, errors
from loyalty_bridge.models.api_checkout import (
    CancelResponse,
    OrderReason,
    OrderRequest,
    OrderResponse,
    RefundRequest,
    RefundResponse,
)
from loyalty_bridge.models.checkout_records import (
    OrderLoyalty,
    OrderRecord,
    RedemptionStatus,
    ReversalRecord,
)
from loyalty_bridge.models.domain import LoyaltyStatus, OrderResult, PlatformOrder, Reversal, ReversalResult
from loyalty_bridge.models.messages import Envelope
from loyalty_bridge.models.records import utcnow
from loyalty_bridge.observability import MetricName, logger
from loyalty_bridge.ports import (
    CheckoutStore,
    CustomerRepository,
    IncidentSink,
    LoyaltyPlatform,
    MessageQueue,
    Metrics,
    ProgramSource,
    StoreCheck,
)
from loyalty_bridge.privacy import platform_answer, pseudonym
from loyalty_bridge.program.order_lines import platform_lines
from loyalty_bridge.services import new_changes
from loyalty_bridge.services.balances import BalanceRecorder
from loyalty_bridge.services.checkout import Clock, customer_or_404
from loyalty_bridge.services.deadline import within
from loyalty_bridge.services.order_answers import (
    cancel_answer,
    check_refund_lines,
    credited_answer,
    not_credited_answer,
    queued_answer,
    refund_answer,
    reversal_record,
)
from loyalty_bridge.services.order_messages import (
    ORDER_CANCEL,
    ORDER_POST,
    ORDER_REFUND,
    OrderJob,
    ReversalJob,
    cancel_id,
    given_up_error,
    message_ids,
    message_payload,
    order_envelope,
    refused_order_error,
    refused_reversal_error,
    reversal_envelope,
)
from loyalty_bridge.services.rewards import coupon_refused_error
from loyalty_bridge.settings import Settings


class OrderService:
    def __init__(
        self,
        *,
        platform: LoyaltyPlatform,
        customers: CustomerRepository,
        store: CheckoutStore,
        queue: MessageQueue,
        incidents: IncidentSink,
        settings: Settings,
        metrics: Metrics,
        clock: Clock = utcnow,
        deadline_seconds: float | None = None,
        balances: BalanceRecorder | None = None,
        stores: StoreCheck | None = None,
        program: ProgramSource | None = None,
    ) -> None:
        self._platform = platform
        # R10: the built-in ledger's program refuses other currencies before anything is stored.
        self._program = program
        self._balances = balances  # REST: the login summary's balance (services/balances.py)
        self._stores = stores  # R6: orders at unregistered stores are refused
        self._customers = customers
        self._store = store
        self._queue = queue
        self._incidents = incidents
        self._settings = settings
        self._metrics = metrics
        self._clock = clock
        self._deadline = (
            settings.order_sync_deadline_seconds if deadline_seconds is None else deadline_seconds
        )
        # The built-in ledger writes a new order's record with its credit (new_changes.py).
        self._records_with_credit = new_changes.records_changes(platform, store)

    # ================================================================== API: C4

    def place(self, request: OrderRequest) -> OrderResponse:
        # A new order is the common case: the record's conditional put below finds a repeat,
        # and only a refused new order looks for an earlier one (a repeat answers as before).
        try:
            if self._stores is not None:  # before anything is stored: a refused order changes nothing
                self._stores.check(request.store_id, request.staff_id)
            if self._program is not None:
                self._program.current()[1].exchange_rate(request.currency)
            loyalty, member_id = self._whose(request.customer_id)
            if loyalty is OrderLoyalty.MEMBER and request.redemption_id:
                self._check_redemption(request.redemption_id, request.customer_id)
        except errors.BridgeError:
            existing = self._store.get_order(request.order_id)
            if existing is not None:
                return self._repeat(existing, request)
            raise
        record = OrderRecord(
            order_id=request.order_id,
            customer_id=request.customer_id,
            member_id=member_id,
            loyalty=loyalty,
            order=self._platform_order(request),
            received_at=self._clock(),
        )
        if loyalty is OrderLoyalty.MEMBER and member_id is not None and self._records_with_credit:
            answered = self._place_recorded(record, member_id, request)
            if answered is not None:
                return answered
        if not self._store.create_order(record):
            # The same order arrived twice at once: answer like the one that stored it.
            stored = self._store.get_order(request.order_id)
            if stored is None:  # pragma: no cover - the store just said it exists
                raise errors.Retryable("order store inconsistent; try again")
            return self._repeat(stored, request)
        self._log_received(record)
        return self._settle_now(record, new=True)

    @staticmethod
    def _log_received(record: OrderRecord) -> None:
        logger.info(
            "order received",
            extra={
                "order_id": record.order_id,
                "customer": pseudonym(record.customer_id),
                "loyalty": record.loyalty.value,
                "lines": len(record.order.lines),
            },
        )

    def _place_recorded(
        self, record: OrderRecord, member_id: str, request: OrderRequest
    ) -> OrderResponse | None:
        """A new member's order whose record the ledger writes with its credit (new_changes.py).
        None: the bridge or the ledger knows the order already: the usual way."""
        platform = cast("new_changes.RecordsNewChanges", self._platform)
        try:
            result, written = within(
                self._deadline,
                lambda: platform.post_new_order_recorded(
                    member_id,
                    record.order,
                    lambda got: self._recorded_with_credit(record, member_id, got),
                ),
            )
        except errors.RecordExists:
            return None
        except Exception as exc:
            if not isinstance(exc, errors.PlatformRefused) and not errors.is_retryable(exc):
                raise
            # Refused or unavailable: store the order, then as usual. A credited record there
            # is this transaction's whose reply was lost (or a twin's): finish its steps.
            if not self._store.create_order(record):
                stored = self._store.get_order(record.order_id)
                if stored is None or stored.credit is None or stored.customer_id != record.customer_id:
                    return None if stored is None else self._repeat(stored, request)
                return credited_answer(self._after_credit(stored, member_id, stored.credit, first=False))
            if isinstance(exc, errors.PlatformRefused):
                return self._refused(record, exc)
            return self._unavailable(record, exc)
        if not written:
            return None
        self._log_received(record)
        return credited_answer(self._after_credit(record, member_id, result, first=True, captured=True))

    def _recorded_with_credit(self, record: OrderRecord, member_id: str, result: OrderResult) -> list[Any]:
        """What the ledger writes with a new order's credit: the order's record, its hold's
        record marked captured, and the request's answer (answers.py) unless a step after
        the credit must run again when that answer is lost (the refused coupon's report)."""
        store = cast("new_changes.ChangeRecordItems", self._store)
        items = store.credited_order_items(record, member_id, result)
        if record.order.redemption_id:
            items += store.captured_redemption_items(record.order.redemption_id, record.order_id)
        if coupon_refused_error(record, result) is None:
            items += answers.items(credited_answer(result))
        return items

    def _repeat(self, record: OrderRecord, request: OrderRequest) -> OrderResponse:
        if record.customer_id != request.customer_id:
            raise errors.Conflict(
                "This order id was already used for another customer.", code="order_id_reused"
            )
        if record.credit is not None:
            self._report_coupon(record, record.credit)  # in case the first answer was cut short
            return credited_answer(record.credit)
        if record.loyalty is OrderLoyalty.PENDING:
            loyalty, member_id = self._whose(record.customer_id)
            if loyalty is not OrderLoyalty.PENDING:  # joined (or gave up) since the first post
                self._store.set_order_loyalty(record.order_id, loyalty, member_id)
                record = record.model_copy(update={"loyalty": loyalty, "member_id": member_id})
        return self._settle_now(record)

    def _settle_now(self, record: OrderRecord, *, new: bool = False) -> OrderResponse:
        """Credit within the request when the platform is quick; otherwise queue (202)."""
        if record.loyalty in (OrderLoyalty.GUEST, OrderLoyalty.NOT_JOINED):
            reason: OrderReason = "guest" if record.loyalty is OrderLoyalty.GUEST else "not_joined"
            return not_credited_answer(record.order_id, reason)
        if record.loyalty is OrderLoyalty.PENDING or record.member_id is None:
            self._enqueue_order(record)
            return queued_answer(record.order_id, "joining")
        member_id = record.member_id
        try:
            result = within(
                self._deadline,
                lambda: new_changes.post_order(self._platform, member_id, record.order, new=new),
            )
        except errors.PlatformRefused as exc:
            return self._refused(record, exc)
        except Exception as exc:
            if not errors.is_retryable(exc):
                raise
            return self._unavailable(record, exc)
        return credited_answer(self._credited(record, member_id, result))

    def _refused(self, record: OrderRecord, exc: errors.PlatformRefused) -> OrderResponse:
        self._order_refused(record, exc, order_envelope(record))
        reason: OrderReason = "card_blocked" if isinstance(exc, errors.CardBlocked) else "platform_refused"
        return not_credited_answer(record.order_id, reason)

    def _unavailable(self, record: OrderRecord, exc: Exception) -> OrderResponse:
        # Slow, down, or failing in a way retrying may fix: the order worker settles it.
        logger.warning(
            "order queued: platform unavailable",
            extra={"order_id": record.order_id, "error": platform_answer(exc)},
        )
        self._enqueue_order(record)
        return queued_answer(record.order_id, "platform_unavailable")

    # ================================================================== API: C5

    def refund(self, order_id: str, request: RefundRequest) -> RefundResponse:
        record, read = self._order_or_404(order_id, request.refund_id)
        done = record.reversal(request.refund_id)
        if done is None:
            check_refund_lines(record, request)
            reversal = Reversal(
                reversal_id=request.refund_id,
                order_id=order_id,
                lines=[(line.sku, line.quantity) for line in request.lines],
            )
            done = self._reverse_now(
                record,
                reversal,
                lambda got: refund_answer(order_id, request.refund_id, got, earns=True),
                read,
            )
        result = done.result if done is not None else None
        return refund_answer(order_id, request.refund_id, result, earns=self._earns(record))

    def cancel(self, order_id: str) -> CancelResponse:
        reversal_id = cancel_id(order_id)
        record, read = self._order_or_404(order_id, reversal_id)
        done = record.reversal(reversal_id)
        if done is None:
            done = self._reverse_now(
                record,
                Reversal(reversal_id=reversal_id, order_id=order_id, cancel=True),
                lambda got: cancel_answer(order_id, got, earns=True),
                read,
            )
        result = done.result if done is not None else None
        return cancel_answer(order_id, result, earns=self._earns(record))

    def _reverse_now(
        self,
        record: OrderRecord,
        reversal: Reversal,
        answer: Callable[[ReversalResult], BaseModel] | None = None,
        read: list[Any] | None = None,
    ) -> ReversalRecord | None:
        """The stored reversal, or None when there is nothing to reverse (guest, not joined)
        or it was queued (the order is not credited yet, or the platform is slow).
        ``answer``: the request's answer to a reversal's result (answers.py); ``read``: the
        ledger's own read of the order, made with the order's record (_order_or_404)."""
        if not self._earns(record):
            return None
        if record.credit is None or record.member_id is None:
            self._enqueue_reversal(record, reversal)
            return None
        member_id = record.member_id
        try:
            result, written = within(
                self._deadline, lambda: self._reverse_on_platform(record, member_id, reversal, answer, read)
            )
        except errors.PlatformRefused as exc:
            self._reversal_refused(record, reversal, exc, reversal_envelope(record, reversal))
            raise
        except Exception as exc:
            if not errors.is_retryable(exc):
                raise
            logger.warning(
                "reversal queued: platform unavailable",
                extra={
                    "order_id": record.order_id,
                    "reversal_id": reversal.reversal_id,
                    "error": platform_answer(exc),
                },
            )
            self._enqueue_reversal(record, reversal)
            return None
        if written:
            return self._after_reversal(record, reversal_record(reversal, result), first=True)
        return self._reversed(record, reversal, result)

    def _reverse_on_platform(
        self,
        record: OrderRecord,
        member_id: str,
        reversal: Reversal,
        answer: Callable[[ReversalResult], BaseModel] | None,
        read: list[Any] | None,
    ) -> tuple[ReversalResult, bool]:
        """The reversal's result, and whether its record was written with it (the built-in
        ledger writes it in the reversal's transaction: services/new_changes.py)."""
        if not self._records_with_credit:
            return new_changes.reverse(self._platform, member_id, reversal, new=True), False
        platform = cast("new_changes.RecordsNewChanges", self._platform)
        store = cast("new_changes.ChangeRecordItems", self._store)
        try:
            return platform.reverse_new_recorded(
                member_id,
                reversal,
                lambda got: [
                    *store.reversal_items(record.order_id, reversal_record(reversal, got)),
                    *(answers.items(answer(got)) if answer is not None else []),
                ],
                read,
            )
        except errors.RecordExists:  # a twin request recorded it meanwhile: its answer
            return self._platform.reverse(member_id, reversal), False

    # ================================================================== worker

    def settle(self, envelope: Envelope) -> None:
        """Settle one queued message. Raises Retryable to have it delivered again; records a
        New Order Error for what the platform refuses (and returns: the message is done)."""
        if envelope.kind == ORDER_POST:
            self._settle_order(envelope)
        elif envelope.kind in (ORDER_REFUND, ORDER_CANCEL):
            self._settle_reversal(envelope)
        else:
            raise errors.Permanent(f"unknown order message kind {envelope.kind!r}")

    def give_up(self, envelope: Envelope, exc: BaseException) -> None:
        """The message ran out of deliveries (or cannot be read): a New Order Error with the
        last answer, replayable once the cause is fixed."""
        order_id, _ = message_ids(envelope)
        self._incidents.report(given_up_error(envelope, exc))
        if envelope.kind == ORDER_POST and order_id:
            self._store.record_failure(order_id, platform_answer(exc))

    def _settle_order(self, envelope: Envelope) -> None:
        job = message_payload(OrderJob, envelope)
        order = job.order
        record = self._store.get_order(order.order_id)
        if record is None:
            # A replay whose record was lost, or a message older than the record: rebuild it.
            record = OrderRecord(
                order_id=order.order_id,
                customer_id=envelope.customer_id,
                member_id=job.member_id,
                loyalty=OrderLoyalty.MEMBER if job.member_id else OrderLoyalty.PENDING,
                order=order,
            )
            self._store.create_order(record)
            record = self._store.get_order(order.order_id) or record
        if record.credit is not None:
            self._report_coupon(record, record.credit)
            self._incidents.resolve(envelope.replay_of, note="order was already credited")
            return
        member_id = record.member_id or job.member_id
        if member_id is None:
            member_id = self._member_when_joined(record)
            if member_id is None:
                return
        try:
            result = self._platform.post_order(member_id, record.order)
        except errors.PlatformRefused as exc:
            self._order_refused(record, exc, envelope)
            return
        self._credited(record, member_id, result)
        self._incidents.resolve(envelope.replay_of, note="order credited on replay")

    def _member_when_joined(self, record: OrderRecord) -> str | None:
        """A pending order's member once the customer joined; Retryable while joining."""
        customer = self._customers.get(record.customer_id or "")
        if customer is not None and customer.status == LoyaltyStatus.JOINED and customer.member_id:
            self._store.set_order_loyalty(record.order_id, OrderLoyalty.MEMBER, customer.member_id)
            return customer.member_id
        if customer is not None and customer.status in (LoyaltyStatus.PENDING, LoyaltyStatus.VERIFYING):
            raise errors.Retryable("the customer's loyalty account is still being created")
        self._store.set_order_loyalty(record.order_id, OrderLoyalty.NOT_JOINED, None)
        # The order was placed while the account was being created, and the join failed (its
        # own error is recorded): keep the order as a New Order Error to replay once the
        # customer has joined, rather than dropping its points (nothing is lost).
        reason = customer.status_reason if customer is not None else "unknown customer"
        raise errors.Permanent(
            f"the customer's loyalty account could not be created ({reason}); "
            "replay this error once the customer has joined",
            code="customer_not_joined",
        )

    def _settle_reversal(self, envelope: Envelope) -> None:
        job = message_payload(ReversalJob, envelope)
        reversal = job.reversal
        record = self._store.get_order(reversal.order_id)
        if record is None:
            raise errors.Permanent(f"order {reversal.order_id} is unknown to the bridge")
        if record.reversal(reversal.reversal_id) is not None or not self._earns(record):
            self._incidents.resolve(envelope.replay_of, note="nothing left to reverse")
            return
        if record.credit is None or record.member_id is None:
            raise errors.Retryable("the order is not credited yet; the reversal waits for it")
        try:
            result = self._platform.reverse(record.member_id, reversal)
        except errors.PlatformRefused as exc:
            self._reversal_refused(record, reversal, exc, envelope)
            return
        self._reversed(record, reversal, result)
        self._incidents.resolve(envelope.replay_of, note="reversal applied on replay")

    # ================================================================== shared steps

    def _whose(self, customer_id: str | None) -> tuple[OrderLoyalty, str | None]:
        if customer_id is None:
            return OrderLoyalty.GUEST, None
        customer = customer_or_404(self._customers, customer_id)
        if customer.status == LoyaltyStatus.JOINED and customer.member_id:
            return OrderLoyalty.MEMBER, customer.member_id
        if customer.status == LoyaltyStatus.PENDING:
            return OrderLoyalty.PENDING, None
        return OrderLoyalty.NOT_JOINED, None

    def _check_redemption(self, redemption_id: str, customer_id: str | None) -> None:
        redemption = self._store.get_redemption(redemption_id)
        if redemption is None or redemption.customer_id != customer_id:
            raise errors.InvalidInput(
                "Unknown redemption for this customer.",
                errors=[{"field": "redemption_id", "message": "no such redemption for this customer"}],
                code="redemption_not_found",
            )

    @staticmethod
    def _platform_order(request: OrderRequest) -> PlatformOrder:
        return PlatformOrder(
            order_id=request.order_id,
            placed_at=request.placed_at,
            currency=request.currency,
            channel=request.channel,
            store_id=request.store_id,
            staff_id=request.staff_id,
            lines=platform_lines(line.to_basket_line() for line in request.lines),
            shipping=request.shipping,
            total=request.total,
            promo_code=request.promo_code,
            redemption_id=request.redemption_id,
        )

    @staticmethod
    def _earns(record: OrderRecord) -> bool:
        return record.loyalty in (OrderLoyalty.MEMBER, OrderLoyalty.PENDING)

    def _order_or_404(self, order_id: str, reversal_id: str) -> tuple[OrderRecord, list[Any] | None]:
        """For a reversal: the order's record and the ledger's read (new_changes.py)."""
        record, read = new_changes.order_for_reversal(self._platform, self._store, order_id, reversal_id)
        if record is None:
            raise errors.NotFound("No order with this id.", code="order_not_found")
        return record, read

    def _credited(self, record: OrderRecord, member_id: str, result: OrderResult) -> OrderResult:
        stored, first = self._store.record_credit(record.order_id, member_id, result)
        return self._after_credit(record, member_id, stored, first=first)

    def _after_credit(
        self, record: OrderRecord, member_id: str, stored: OrderResult, *, first: bool, captured: bool = False
    ) -> OrderResult:
        """``captured``: the hold's record was marked captured with the credit."""
        self._report_coupon(record, stored)
        if record.order.redemption_id and not captured:
            self._store.set_redemption_status(
                record.order.redemption_id, RedemptionStatus.CAPTURED, order_id=record.order_id
            )
        self._balance_moved(member_id, stored.balance, record.customer_id)
        if first:
            latency_ms = max((self._clock() - record.order.placed_at).total_seconds() * 1000, 0.0)
            self._metrics.count(MetricName.ORDERS_CREDITED)
            self._metrics.milliseconds(MetricName.ORDER_TO_POINTS_MS, latency_ms)
            logger.info(
                "order credited",
                extra={
                    "order_id": record.order_id,
                    "customer": pseudonym(record.customer_id),
                    "points_earned": stored.points_earned,
                    "points_redeemed": stored.points_redeemed,
                    "latency_ms": round(latency_ms),
                },
            )
        return stored

    def _report_coupon(self, record: OrderRecord, credit: OrderResult) -> None:
        """R4: the order named a coupon it may not use: a New Order Error, once per order."""
        incident = coupon_refused_error(record, credit)
        if incident is not None:
            self._incidents.report(incident)

    def _reversed(self, record: OrderRecord, reversal: Reversal, result: ReversalResult) -> ReversalRecord:
        stored, first = self._store.record_reversal(record.order_id, reversal_record(reversal, result))
        return self._after_reversal(record, stored, first=first)

    def _after_reversal(self, record: OrderRecord, stored: ReversalRecord, *, first: bool) -> ReversalRecord:
        self._balance_moved(record.member_id, stored.result.balance, record.customer_id)
        if first:
            self._metrics.count(MetricName.POINTS_REVERSED, stored.result.points_reversed)
        context = {
            "order_id": record.order_id,
            "reversal_id": stored.reversal_id,
            "points_reversed": stored.result.points_reversed,
            "points_returned": stored.result.points_returned,
            "shortfall": stored.result.shortfall,
        }
        if stored.result.shortfall:
            # The customer already spent the points: recorded on the reversal, never hidden.
            logger.warning("reversal shortfall", extra=context)
        else:
            logger.info("points reversed", extra=context)
        return stored

    def _balance_moved(self, member_id: str | None, balance: int, customer_id: str | None) -> None:
        """Points moved on the platform (API or worker): the summary shows it at once."""
        if self._balances is not None and member_id:
            self._balances.moved(member_id, balance=balance, customer_id=customer_id)

    def _order_refused(self, record: OrderRecord, exc: errors.PlatformRefused, envelope: Envelope) -> None:
        self._store.record_failure(record.order_id, platform_answer(exc))
        self._incidents.report(refused_order_error(record, exc, envelope))

    def _reversal_refused(
        self, record: OrderRecord, reversal: Reversal, exc: errors.PlatformRefused, envelope: Envelope
    ) -> None:
        self._incidents.report(refused_reversal_error(record, reversal, exc, envelope))

    # ---------------------------------------------------------------- queue

    def _enqueue_order(self, record: OrderRecord) -> None:
        envelope = order_envelope(record)
        self._queue.send(envelope.model_dump_json(), dedup_id=envelope.message_id)

    def _enqueue_reversal(self, record: OrderRecord, reversal: Reversal) -> None:
        envelope = reversal_envelope(record, reversal)
        self._queue.send(envelope.model_dump_json(), dedup_id=envelope.message_id)

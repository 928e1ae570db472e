"""Checkout on template.yaml's own resources in moto (the ``aws`` fixture): the checkout
store's once-only writes, and the order flow over the real adapters (built-in ledger,
DynamoDB customers, SQS order queue) as wiring builds them."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from loyalty_bridge import errors, wiring
from loyalty_bridge.adapters.checkout_store import DynamoCheckoutStore
from loyalty_bridge.models.api_checkout import (
    CheckoutLine,
    OrderRequest,
    RedemptionRequest,
    RefundLine,
    RefundRequest,
)
from loyalty_bridge.models.checkout_records import (
    OrderLoyalty,
    OrderRecord,
    RedemptionRecord,
    ReversalRecord,
)
from loyalty_bridge.models.domain import (
    Consents,
    LoyaltyStatus,
    MemberProfile,
    OrderResult,
    PlatformOrder,
    PlatformOrderLine,
    Reversal,
    ReversalResult,
)
from loyalty_bridge.models.messages import Envelope
from loyalty_bridge.models.records import CustomerRecord
from loyalty_bridge.services.checkout import sweep_expired_holds
from loyalty_bridge.services.orders import OrderService

if TYPE_CHECKING:
    from bridge_local.resources import Provisioned

pytestmark = pytest.mark.integration


def tag() -> str:
    return uuid.uuid4().hex[:10]


def platform_order(order_id: str) -> PlatformOrder:
    return PlatformOrder(
        order_id=order_id,
        placed_at=datetime(2025, 1, 15, 12, tzinfo=UTC),
        currency="EUR",
        lines=[PlatformOrderLine(product_code="A", title="A", quantity=1, unit_price=Decimal("5"), sku="A")],
        total=Decimal("5"),
    )


def test_the_store_writes_credits_and_reversals_once(aws: Provisioned) -> None:
    store = wiring.checkout_store()
    assert isinstance(store, DynamoCheckoutStore)
    order_id = f"o-{tag()}"
    record = OrderRecord(
        order_id=order_id, customer_id="c-1", loyalty=OrderLoyalty.PENDING, order=platform_order(order_id)
    )
    assert store.create_order(record) is True
    assert store.create_order(record) is False
    assert store.get_order(order_id) == record
    assert store.get_order("missing") is None

    store.record_failure(order_id, "platform_refused: nope")
    assert store.get_order(order_id).failure == "platform_refused: nope"  # type: ignore[union-attr]
    store.set_order_loyalty(order_id, OrderLoyalty.MEMBER, "m-1")
    credit = OrderResult(order_id=order_id, points_earned=5, points_redeemed=0, balance=5)
    assert store.record_credit(order_id, "m-1", credit) == (credit, True)
    other = credit.model_copy(update={"points_earned": 99})
    assert store.record_credit(order_id, "m-1", other) == (credit, False)
    store.record_failure(order_id, "late refusal")  # credited: kept as credited

    first = ReversalRecord(
        reversal_id="r-1", lines=[("A", 1)], result=ReversalResult(points_reversed=5, balance=0)
    )
    assert store.record_reversal(order_id, first)[1] is True
    stored, new = store.record_reversal(order_id, first.model_copy(update={"lines": [("A", 2)]}))
    assert (stored.lines, new) == ([("A", 1)], False)

    loaded = store.get_order(order_id)
    assert loaded is not None
    assert (loaded.loyalty, loaded.member_id, loaded.credit, loaded.failure) == (
        "member",
        "m-1",
        credit,
        None,
    )
    assert [r.reversal_id for r in loaded.reversals] == ["r-1"]


def test_the_store_keeps_redemptions_and_one_hold_per_cart(aws: Provisioned) -> None:
    store = wiring.checkout_store()
    rid = f"rd_{tag()}"
    record = RedemptionRecord(
        redemption_id=rid,
        customer_id="c-1",
        member_id="m-1",
        cart_id="cart",
        points=10,
        discount=Decimal("0.10"),
        expires_at=datetime.now(UTC) + timedelta(minutes=30),
    )
    store.put_redemption(record)
    assert store.get_redemption(rid) == record
    store.set_redemption_status(rid, "captured", order_id="o-1")
    assert store.get_redemption(rid).status == "captured"  # type: ignore[union-attr]
    cart = f"cart-{tag()}"
    assert store.swap_cart_redemption("c-1", cart, "rd_a") is None
    assert store.swap_cart_redemption("c-1", cart, "rd_b") == "rd_a"
    assert store.swap_cart_redemption("c-1", cart, "rd_b") is None


def joined_customer(points: int = 0) -> str:
    customer_id = f"c-{tag()}"
    email = f"{customer_id}@example.com"
    member = wiring.platform().create_member(
        MemberProfile(email=email), Consents(), idempotency_key=customer_id
    )
    wiring.customers().create(
        CustomerRecord(
            customer_id=customer_id,
            email=email,
            status=LoyaltyStatus.JOINED,
            member_id=member.member_id,
            card_number=member.card.number,
        )
    )
    if points:
        wiring.order_service().place(order(f"seed-{tag()}", customer_id, [line("SEED", str(points))]))
    return customer_id


def line(sku: str, price: str, quantity: int = 1) -> CheckoutLine:
    return CheckoutLine(
        sku=sku,
        title=f"{sku} \u2615",
        quantity=quantity,
        unit_price=Decimal(price),
        categories=["Kitchen & Dining", "Mugs"],
    )


def order(order_id: str, customer_id: str, lines: list[CheckoutLine], **extra: Any) -> OrderRequest:
    total = sum((ln.unit_price * ln.quantity for ln in lines), Decimal(0)) - extra.pop("discount", Decimal(0))
    return OrderRequest(
        order_id=order_id,
        customer_id=customer_id,
        placed_at=datetime.now(UTC),
        currency="EUR",
        lines=lines,
        total=total,
        **extra,
    )


def balance(customer_id: str) -> int:
    record = wiring.customers().get(customer_id)
    assert record is not None
    return wiring.platform().get_balance(record.member_id or "").balance


def test_hold_order_refund_cancel_on_the_built_in_ledger(aws: Provisioned) -> None:
    customer_id = joined_customer(points=1000)
    checkout, orders = wiring.checkout_service(), wiring.order_service()
    held = checkout.hold(
        RedemptionRequest(customer_id=customer_id, cart_id="cart", points=200, order_total=Decimal("60.00"))
    )
    order_id = f"o-{tag()}"
    request = order(
        order_id,
        customer_id,
        [line("MUG", "12.00", 5)],
        discount=held.discount,
        redemption_id=held.redemption_id,
    )
    answer = orders.place(request)
    assert (answer.status, answer.points_earned, answer.points_redeemed) == ("credited", 58, 200)
    assert orders.place(request) == answer
    assert balance(customer_id) == 1000 - 200 + 58

    refunded = orders.refund(
        order_id, RefundRequest(refund_id=f"r-{tag()}", lines=[RefundLine(sku="MUG", quantity=1)])
    )
    cancelled = orders.cancel(order_id)
    assert (refunded.points_reversed or 0) + (cancelled.points_reversed or 0) == 58
    assert cancelled.points_returned == 200
    assert balance(customer_id) == 1000


def member_of(customer_id: str) -> str:
    record = wiring.customers().get(customer_id)
    assert record is not None
    assert record.member_id
    return record.member_id


def redemption_status(redemption_id: str) -> str:
    record = wiring.checkout_store().get_redemption(redemption_id)
    assert record is not None
    return record.status


def test_a_new_hold_for_a_cart_releases_its_previous_hold_in_the_same_transaction(aws: Provisioned) -> None:
    customer_id, other = joined_customer(points=1000), joined_customer(points=1000)
    checkout = wiring.checkout_service()

    def hold(customer: str, cart: str, points: int) -> str:
        total = Decimal(60)
        request = RedemptionRequest(customer_id=customer, cart_id=cart, points=points, order_total=total)
        return checkout.hold(request).redemption_id

    first, kept = hold(customer_id, "cart", 200), hold(customer_id, "other-cart", 100)
    elsewhere = hold(other, "cart", 50)  # another customer's cart of the same id
    writes = Counter[str]()
    platform_db = wiring.platform()._db  # type: ignore[attr-defined]
    platform_db.meta.events.register("before-call.dynamodb", lambda model, **_: writes.update([model.name]))
    second = hold(customer_id, "cart", 150)
    assert writes["TransactWriteItems"] == 1  # the release, the new hold and both records, at once
    assert writes["PutItem"] == 0  # no cart pointer
    account = wiring.platform().get_balance(member_of(customer_id))
    assert (account.held, account.balance) == (150 + 100, 1000)
    statuses = {rid: redemption_status(rid) for rid in (first, kept, second, elsewhere)}
    assert statuses == {first: "released", kept: "held", second: "held", elsewhere: "held"}
    # The released hold is gone for its order too (a storefront that sends it anyway).
    lines = [line("MUG", "12.00", 5)]
    answer = wiring.order_service().place(
        order(f"o-{tag()}", customer_id, lines, redemption_id=first, discount=Decimal(2))
    )
    assert (answer.status, answer.reason, answer.points_redeemed) == ("not_credited", "platform_refused", 0)
    # Asking again for the cart replaces the second hold the same way.
    hold(customer_id, "cart", 10)
    assert redemption_status(second) == "released"
    assert wiring.platform().get_balance(member_of(customer_id)).held == 10 + 100
    assert wiring.platform().get_balance(member_of(other)).held == 50


def test_a_refund_reads_the_order_and_the_ledgers_order_in_one_call_and_a_stale_read_is_read_again(
    aws: Provisioned,
) -> None:
    customer_id = joined_customer()
    orders, store, ledger = wiring.order_service(), wiring.checkout_store(), wiring.platform()
    order_id = f"o-{tag()}"
    orders.place(order(order_id, customer_id, [line("MUG", "12.00", 3)]))
    reads = ledger.reversal_reads(order_id)  # type: ignore[attr-defined]
    record, [ahead] = store.get_order_for_reversal(order_id, "r-2", reads)
    assert record is not None
    assert record.reversals == []
    assert ahead is not None
    assert ahead["pk"]["S"] == f"ORDER#{order_id}"
    unknown = f"o-{tag()}"
    unknown_reads = ledger.reversal_reads(unknown)  # type: ignore[attr-defined]
    assert store.get_order_for_reversal(unknown, "r-1", unknown_reads) == (None, [None])

    first = RefundRequest(refund_id="r-1", lines=[RefundLine(sku="MUG", quantity=1)])
    assert orders.refund(order_id, first).points_reversed == 12
    again, [_] = store.get_order_for_reversal(order_id, "r-1", reads)
    assert again is not None
    assert [r.reversal_id for r in again.reversals] == ["r-1"]  # the one asked for, done

    # ``ahead`` was read before r-1: the ORDER item's version check refuses it, and the
    # reversal reads the order again (r-1's quantity stays reversed once).
    member_id = record.member_id or ""
    reversal = Reversal(reversal_id="r-2", order_id=order_id, lines=[("MUG", 2)])
    result, written = ledger.reverse_new_recorded(  # type: ignore[attr-defined]
        member_id, reversal, lambda got: [], [ahead]
    )
    assert (result.points_reversed, written) == (24, True)
    assert balance(customer_id) == 0
    # Every mug is refunded: a stale read of the order does not take any back again.
    late = Reversal(reversal_id="r-3", order_id=order_id, lines=[("MUG", 1)])
    result, _ = ledger.reverse_new_recorded(member_id, late, lambda got: [], [ahead])  # type: ignore[attr-defined]
    assert result.points_reversed == 0
    assert balance(customer_id) == 0


def test_expired_holds_are_released_by_the_sweeper(aws: Provisioned) -> None:
    customer_id = joined_customer(points=100)
    wiring.checkout_service().hold(
        RedemptionRequest(customer_id=customer_id, cart_id="cart", points=50, order_total=Decimal("100"))
    )
    later = datetime.now(UTC) + timedelta(minutes=wiring.settings().hold_minutes + 1)
    assert (sweep_expired_holds(wiring.platform(), later) or 0) >= 1
    record = wiring.customers().get(customer_id)
    assert record is not None
    assert wiring.platform().get_balance(record.member_id or "").held == 0


class DownPlatform:
    """The real ledger behind an outage switch."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.down = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def post_order(self, member_id: str, order: PlatformOrder) -> OrderResult:
        if self.down:
            raise errors.PlatformUnavailable("platform down")
        result: OrderResult = self.inner.post_order(member_id, order)
        return result


def test_an_outage_goes_through_the_real_order_queue_and_credits_once(aws: Provisioned) -> None:
    customer_id = joined_customer()
    platform = DownPlatform(wiring.platform())
    orders = OrderService(
        platform=platform,
        customers=wiring.customers(),
        store=wiring.checkout_store(),
        queue=wiring.queue("order"),
        incidents=wiring.incident_reporter(),
        settings=wiring.settings(),
        metrics=wiring.metrics(),
    )
    order_id = f"o-{tag()}"
    request = order(order_id, customer_id, [line("MUG", "12.00", 2)])
    assert orders.place(request).status == "queued"
    sqs = aws.client("sqs")
    url = wiring.settings().order_queue_url
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
        "Messages", []
    )
    envelopes = [Envelope.model_validate_json(m["Body"]) for m in messages]
    [envelope] = [e for e in envelopes if e.message_id == f"order.post:{order_id}"]
    platform.down = False
    orders.settle(envelope)
    orders.settle(envelope)
    assert orders.place(request).points_earned == 24
    assert balance(customer_id) == 24


# ---------------------------------------------------------------- the record in the credit's transaction


class Wrapped:
    """The real ledger whose recorded post fails as told: ``before`` (nothing written) or
    ``after`` (written, then the answer lost)."""

    def __init__(self, inner: Any, fail: str, exc: Exception) -> None:
        self.inner, self.fail, self.exc = inner, fail, exc

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def post_new_order_recorded(self, member_id: str, order: PlatformOrder, record: Any) -> Any:
        if self.fail == "before":
            raise self.exc
        self.inner.post_new_order_recorded(member_id, order, record)
        raise self.exc

    def reverse_new_recorded(self, member_id: str, reversal: Any, record: Any, read: Any = None) -> Any:
        return self.inner.reverse_new_recorded(member_id, reversal, record, read)

    def hold_points_recorded(self, *args: Any, **kwargs: Any) -> Any:
        return self.inner.hold_points_recorded(*args, **kwargs)


def service_on(platform: Any) -> OrderService:
    return OrderService(
        platform=platform,
        customers=wiring.customers(),
        store=wiring.checkout_store(),
        queue=wiring.queue("order"),
        incidents=wiring.incident_reporter(),
        settings=wiring.settings(),
        metrics=wiring.metrics(),
    )


def test_a_new_order_is_recorded_with_its_credit_and_a_reused_id_still_refused(aws: Provisioned) -> None:
    customer_id, other = joined_customer(), joined_customer()
    orders, store = wiring.order_service(), wiring.checkout_store()
    order_id = f"o-{tag()}"
    request = order(order_id, customer_id, [line("MUG", "12.00", 2)])
    answer = orders.place(request)
    assert (answer.status, answer.points_earned, answer.balance) == ("credited", 24, 24)
    stored = store.get_order(order_id)
    assert stored is not None
    assert stored.credit is not None
    assert (stored.loyalty, stored.customer_id, stored.credit.points_earned) == ("member", customer_id, 24)
    assert orders.place(request) == answer  # the record is found: answered as the first time
    with pytest.raises(errors.Conflict) as refused:
        orders.place(order(order_id, other, [line("MUG", "12.00", 2)]))
    assert refused.value.code == "order_id_reused"
    assert (balance(customer_id), balance(other)) == (24, 0)


def test_an_order_already_recorded_or_already_on_the_ledger_is_credited_once(aws: Provisioned) -> None:
    customer_id = joined_customer()
    member_id = wiring.customers().get(customer_id).member_id  # type: ignore[union-attr]
    orders, store = wiring.order_service(), wiring.checkout_store()
    # The record is there without its credit (queued meanwhile): its write cancels the
    # transaction, and the order is settled the usual way.
    queued_id = f"o-{tag()}"
    queued = order(queued_id, customer_id, [line("MUG", "12.00", 1)])
    record = OrderRecord(
        order_id=queued_id,
        customer_id=customer_id,
        member_id=member_id,
        loyalty=OrderLoyalty.MEMBER,
        order=orders._platform_order(queued),
    )
    assert store.create_order(record)
    ledger = wiring.platform()
    with pytest.raises(errors.RecordExists):  # at once, not after the ledger's retries
        ledger.post_new_order_recorded(  # type: ignore[attr-defined]
            member_id, record.order, lambda got: store.credited_order_items(record, member_id or "", got)
        )
    assert balance(customer_id) == 0  # nothing of the cancelled transaction was written
    assert orders.place(queued).points_earned == 12
    # The ledger has the order and the bridge no record of it: the ledger's first answer,
    # recorded by the bridge.
    known_id = f"o-{tag()}"
    known = order(known_id, customer_id, [line("MUG", "12.00", 2)])
    first = wiring.platform().post_order(member_id or "", orders._platform_order(known))
    assert orders.place(known).points_earned == first.points_earned == 24
    assert store.get_order(known_id).credit == first  # type: ignore[union-attr]
    assert balance(customer_id) == 36


def test_a_lost_answer_or_an_outage_on_the_recorded_post_credits_once(aws: Provisioned) -> None:
    customer_id = joined_customer()
    store = wiring.checkout_store()
    lost = service_on(Wrapped(wiring.platform(), "after", errors.PlatformUnavailable("reply lost")))
    lost_id = f"o-{tag()}"
    answer = lost.place(order(lost_id, customer_id, [line("MUG", "12.00", 1)]))
    assert (answer.status, answer.points_earned) == ("credited", 12)  # the record it wrote answers

    down = service_on(Wrapped(wiring.platform(), "before", errors.PlatformUnavailable("down")))
    down_id = f"o-{tag()}"
    request = order(down_id, customer_id, [line("MUG", "12.00", 2)])
    assert down.place(request).status == "queued"
    stored = store.get_order(down_id)
    assert stored is not None
    assert stored.credit is None
    sqs = aws.client("sqs")
    messages = sqs.receive_message(
        QueueUrl=wiring.settings().order_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
    ).get("Messages", [])
    [envelope] = [
        e
        for e in (Envelope.model_validate_json(m["Body"]) for m in messages)
        if e.message_id == f"order.post:{down_id}"
    ]
    wiring.order_service().settle(envelope)
    assert wiring.order_service().place(request).points_earned == 24
    assert balance(customer_id) == 36


def test_a_refused_recorded_post_keeps_the_order_and_its_refusal(aws: Provisioned) -> None:
    customer_id = joined_customer()
    refused = service_on(Wrapped(wiring.platform(), "before", errors.PlatformRefused("no such member")))
    order_id = f"o-{tag()}"
    answer = refused.place(order(order_id, customer_id, [line("MUG", "12.00", 1)]))
    assert (answer.status, answer.reason, answer.points_earned) == ("not_credited", "platform_refused", 0)
    stored = wiring.checkout_store().get_order(order_id)
    assert stored is not None
    assert stored.credit is None
    assert "no such member" in (stored.failure or "")
    assert balance(customer_id) == 0


def test_a_refund_is_recorded_in_its_reversal_and_a_twin_answers_the_first(aws: Provisioned) -> None:
    customer_id = joined_customer()
    orders, store = wiring.order_service(), wiring.checkout_store()
    order_id = f"o-{tag()}"
    orders.place(order(order_id, customer_id, [line("MUG", "12.00", 2)]))
    before = store.get_order(order_id)
    assert before is not None
    refund = RefundRequest(refund_id=f"r-{tag()}", lines=[RefundLine(sku="MUG", quantity=1)])
    answer = orders.refund(order_id, refund)
    assert (answer.status, answer.points_reversed, answer.balance) == ("reversed", 12, 12)
    after = store.get_order(order_id)
    assert after is not None
    [stored] = after.reversals
    assert (stored.reversal_id, stored.result.points_reversed) == (refund.refund_id, 12)
    # A twin that read the order before the first was recorded: its record's write cancels
    # the transaction, and it answers the first reversal's result; nothing moves twice.
    reversal = Reversal(reversal_id=refund.refund_id, order_id=order_id, lines=[("MUG", 1)])
    with pytest.raises(errors.RecordExists):
        wiring.platform().reverse_new_recorded(  # type: ignore[attr-defined]
            before.member_id, reversal, lambda got: store.reversal_items(order_id, stored)
        )
    twin = orders._reverse_now(before, reversal)
    assert twin is not None
    assert twin.result == stored.result
    assert orders.refund(order_id, refund) == answer
    assert balance(customer_id) == 12


def test_a_lost_answer_of_a_redeeming_order_still_captures_its_redemption(aws: Provisioned) -> None:
    customer_id = joined_customer(points=1000)
    held = wiring.checkout_service().hold(
        RedemptionRequest(customer_id=customer_id, cart_id="cart", points=200, order_total=Decimal("60.00"))
    )
    lost = service_on(Wrapped(wiring.platform(), "after", errors.PlatformUnavailable("reply lost")))
    request = order(
        f"o-{tag()}",
        customer_id,
        [line("MUG", "12.00", 5)],
        discount=held.discount,
        redemption_id=held.redemption_id,
    )
    answer = lost.place(request)
    assert (answer.status, answer.points_earned, answer.points_redeemed) == ("credited", 58, 200)
    # The committed transaction's follow-up steps ran although its reply was lost.
    redemption = wiring.checkout_store().get_redemption(held.redemption_id)
    assert redemption is not None
    assert (redemption.status, redemption.order_id) == ("captured", request.order_id)
    assert balance(customer_id) == 1000 - 200 + 58

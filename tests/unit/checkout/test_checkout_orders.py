"""Order push (C4), refunds and cancellations (C5), exactly once (C6), New Order Errors."""

from __future__ import annotations

import json
import threading
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from loyalty_bridge import errors
from loyalty_bridge.models.api_checkout import RedemptionRequest, RefundLine, RefundRequest
from loyalty_bridge.models.domain import Consents, LoyaltyStatus, MemberProfile, OrderResult, PlatformOrder
from loyalty_bridge.models.messages import Envelope
from loyalty_bridge.models.records import ErrorCategory
from loyalty_bridge.observability import MetricName
from tests.unit.checkout.conftest import Shop, build_shop, line, order


def queued_envelopes(shop: Shop) -> list[Envelope]:
    return [Envelope.model_validate_json(message.body) for message in shop.queue.drain()]


def refund(refund_id: str, *lines: tuple[str, int]) -> RefundRequest:
    return RefundRequest(refund_id=refund_id, lines=[RefundLine(sku=s, quantity=q) for s, q in lines])


def basket() -> list[Any]:
    return [line("SHIRT", "25.00", 2, title="Shirt"), line("SOCKS", "5.00", 4, title="Socks")]  # 70.00


# ---------------------------------------------------------------- C4


def test_a_members_order_is_credited_within_the_request(shop: Shop) -> None:
    shop.customer("c-1")
    answer = shop.orders.place(order("o-1", "c-1", basket(), shipping=Decimal("4.95")))
    assert (answer.status, answer.points_earned, answer.points_redeemed, answer.balance) == (
        "credited",
        70,
        0,
        70,
    )
    assert shop.balance("c-1") == 70
    assert shop.queue.messages == []
    assert shop.metrics.total(MetricName.ORDERS_CREDITED) == 1
    [(name, latency)] = shop.metrics.latencies
    assert name == MetricName.ORDER_TO_POINTS_MS
    assert latency == 60_000  # placed 11:59, credited 12:00 on the test clock


def test_the_platform_receives_the_truncated_lines(shop: Shop) -> None:
    shop.customer("c-1")
    long_line = line(
        "SKU-" + "9" * 30, "1.00", title="\U0001f600" * 70, categories=["Electronics", None, "Headphones!"]
    )
    shop.orders.place(order("o-1", "c-1", [long_line]))
    [(_, call)] = [c for c in shop.platform.calls if c[0] == "post_order"]
    sent: PlatformOrder = call["order"]
    assert sent.lines[0].product_code == "SKU-" + "9" * 16
    assert sent.lines[0].title == "\U0001f600" * 50
    assert (sent.lines[0].department, sent.lines[0].category, sent.lines[0].subcategory) == (
        "Electronic",
        None,
        "Headphones",
    )


def test_guest_and_not_joined_orders_are_accepted_without_points(shop: Shop) -> None:
    shop.customer("c-2", status=LoyaltyStatus.NOT_JOINED)
    guest = shop.orders.place(order("o-guest", None, basket()))
    not_joined = shop.orders.place(order("o-nj", "c-2", basket()))
    assert (guest.status, guest.reason, guest.points_earned) == ("not_credited", "guest", 0)
    assert (not_joined.status, not_joined.reason, not_joined.points_earned) == (
        "not_credited",
        "not_joined",
        0,
    )
    assert [c for c in shop.platform.calls if c[0] == "post_order"] == []
    assert shop.orders.refund("o-guest", refund("r-1", ("SHIRT", 1))).status == "not_applicable"
    assert shop.orders.cancel("o-nj").points_reversed == 0


def test_an_order_of_an_unknown_customer_is_404(shop: Shop) -> None:
    with pytest.raises(errors.NotFound):
        shop.orders.place(order("o-1", "ghost", basket()))


def test_an_order_waits_for_a_customer_still_joining(shop: Shop) -> None:
    shop.customer("c-1", status=LoyaltyStatus.PENDING)
    answer = shop.orders.place(order("o-1", "c-1", basket()))
    assert (answer.status, answer.reason) == ("queued", "joining")
    [envelope] = queued_envelopes(shop)
    with pytest.raises(errors.Retryable):
        shop.orders.settle(envelope)  # still joining: back to the queue

    joined = shop.platform.create_member(
        MemberProfile(email="c-1@example.com"), Consents(), idempotency_key="join:c-1"
    )
    record = shop.customers.get("c-1")
    assert record is not None
    shop.customers.save(
        record.model_copy(update={"status": LoyaltyStatus.JOINED, "member_id": joined.member_id}),
        expected_version=record.version,
    )
    shop.orders.settle(envelope)
    assert shop.balance("c-1") == 70
    assert shop.orders.place(order("o-1", "c-1", basket())).points_earned == 70


# ---------------------------------------------------------------- C6


def test_the_same_order_five_times_credits_once(shop: Shop) -> None:
    shop.customer("c-1")
    first = shop.orders.place(order("o-1", "c-1", basket()))
    envelope = Envelope(
        kind="order.post",
        message_id="order.post:o-1",
        customer_id="c-1",
        payload={"order": shop.store.orders["o-1"].order.model_dump(mode="json"), "member_id": None},
    )
    answers = [shop.orders.place(order("o-1", "c-1", basket())) for _ in range(3)]
    shop.orders.settle(envelope)  # a queue redelivery
    assert all(a == first for a in answers)
    assert shop.balance("c-1") == 70
    assert shop.metrics.total(MetricName.ORDERS_CREDITED) == 1


def test_an_order_id_reused_for_another_customer_is_a_conflict(shop: Shop) -> None:
    shop.customer("c-1")
    shop.customer("c-2")
    shop.orders.place(order("o-1", "c-1", basket()))
    with pytest.raises(errors.Conflict) as conflict:
        shop.orders.place(order("o-1", "c-2", basket()))
    assert conflict.value.code == "order_id_reused"


def test_a_platform_outage_queues_the_order_and_the_worker_credits_it_once(shop: Shop) -> None:
    shop.customer("c-1")
    shop.platform.fail_next("post_order", errors.PlatformUnavailable("503"), times=2)
    answer = shop.orders.place(order("o-1", "c-1", basket()))
    assert (answer.status, answer.reason, answer.points_earned) == ("queued", "platform_unavailable", None)
    [envelope] = queued_envelopes(shop)
    assert envelope.kind == "order.post"
    with pytest.raises(errors.PlatformUnavailable):
        shop.orders.settle(envelope)  # still down: redelivered later
    shop.orders.settle(envelope)
    shop.orders.settle(envelope)  # redelivered once more: no change
    assert shop.balance("c-1") == 70
    assert shop.orders.place(order("o-1", "c-1", basket())).points_earned == 70
    assert shop.metrics.total(MetricName.ORDERS_CREDITED) == 1


class SlowPlatform:
    """Wraps a platform; post_order waits until ``go`` is set (a platform slower than the deadline)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.go = threading.Event()
        self.done = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def post_order(self, member_id: str, order: PlatformOrder) -> OrderResult:
        self.go.wait(timeout=30)
        try:
            result: OrderResult = self.inner.post_order(member_id, order)
            return result
        finally:
            self.done.set()


def test_a_slow_platform_answers_202_and_the_late_call_is_harmless() -> None:
    shop = build_shop()
    slow = SlowPlatform(shop.platform)
    shop.orders._platform = slow  # type: ignore[assignment]
    shop.orders._deadline = 0.05
    shop.customer("c-1")
    answer = shop.orders.place(order("o-1", "c-1", basket()))
    assert (answer.status, answer.reason) == ("queued", "platform_unavailable")
    slow.go.set()
    assert slow.done.wait(timeout=30)
    [envelope] = queued_envelopes(shop)
    shop.orders.settle(envelope)
    assert shop.balance("c-1") == 70
    assert shop.orders.place(order("o-1", "c-1", basket())).points_earned == 70


# ---------------------------------------------------------------- New Order Errors


def test_a_refused_order_is_a_new_order_error_emailed_once_and_replayable(shop: Shop) -> None:
    shop.customer("c-1")
    refusal = errors.PlatformRefused("product blocked", code="product_blocked")
    shop.platform.fail_next("post_order", refusal, times=2)
    answer = shop.orders.place(order("o-1", "c-1", basket()))
    assert (answer.status, answer.reason, answer.points_earned) == ("not_credited", "platform_refused", 0)
    shop.orders.place(order("o-1", "c-1", basket()))  # the storefront retries: same error, no new email
    [incident] = shop.error_store.records.values()
    assert incident.category == ErrorCategory.NEW_ORDER
    assert incident.error_id == "new_order:o-1"
    assert "product_blocked" in incident.platform_answer
    assert incident.change_after is not None
    assert incident.change_after["order_id"] == "o-1"
    assert len(shop.mailer.sent) == 1
    assert "New Order Errors" in shop.mailer.sent[0].subject
    assert shop.balance("c-1") == 0

    replay = incident.replay
    assert replay["queue"] == "order"
    body = dict(replay["body"], replay_of=incident.error_id)
    shop.orders.settle(Envelope.model_validate(body))  # the admin fixed it and replays
    assert shop.balance("c-1") == 70
    assert shop.error_store.records["new_order:o-1"].status == "resolved"


def test_giving_up_after_the_last_delivery_records_the_last_answer(shop: Shop) -> None:
    shop.customer("c-1")
    shop.platform.fail_next("post_order", errors.PlatformUnavailable("down"), times=1)
    shop.orders.place(order("o-1", "c-1", basket()))
    [envelope] = queued_envelopes(shop)
    shop.orders.give_up(envelope, errors.PlatformUnavailable("still down"))
    [incident] = shop.error_store.records.values()
    assert incident.error_id == "new_order:o-1"
    assert "platform_unavailable" in incident.platform_answer
    assert "gave up" in incident.attempted
    assert json.loads(json.dumps(incident.replay))["body"]["kind"] == "order.post"


def test_an_unknown_message_kind_is_permanent(shop: Shop) -> None:
    with pytest.raises(errors.Permanent):
        shop.orders.settle(Envelope(kind="order.unknown", message_id="x"))


# ---------------------------------------------------------------- redemptions captured by orders


def test_an_order_naming_a_hold_spends_the_held_points(shop: Shop) -> None:
    shop.customer("c-1")
    shop.give_points("c-1", 1000)
    held = shop.checkout.hold(
        RedemptionRequest(customer_id="c-1", cart_id="cart-1", points=1000, order_total=Decimal("70.00"))
    )
    answer = shop.orders.place(
        order("o-1", "c-1", basket(), discount=held.discount, redemption_id=held.redemption_id)
    )
    assert (answer.points_redeemed, answer.points_earned) == (1000, 60)
    assert answer.balance == 60
    assert shop.store.redemptions[held.redemption_id].status == "captured"
    shop.checkout.release(held.redemption_id)  # too late: spent points stay spent
    assert shop.balance("c-1") == 60


def test_an_order_naming_someone_elses_hold_is_refused(shop: Shop) -> None:
    shop.customer("c-1")
    shop.customer("c-2")
    shop.give_points("c-1", 100)
    held = shop.checkout.hold(
        RedemptionRequest(customer_id="c-1", cart_id="cart-1", points=100, order_total=Decimal("70.00"))
    )
    with pytest.raises(errors.InvalidInput):
        shop.orders.place(order("o-2", "c-2", basket(), redemption_id=held.redemption_id))


# ---------------------------------------------------------------- C5


def test_partial_refunds_then_cancel(shop: Shop) -> None:
    shop.customer("c-1")
    shop.give_points("c-1", 500)
    held = shop.checkout.hold(
        RedemptionRequest(customer_id="c-1", cart_id="cart-1", points=500, order_total=Decimal("70.00"))
    )
    shop.orders.place(order("o-1", "c-1", basket(), discount=held.discount, redemption_id=held.redemption_id))
    assert shop.balance("c-1") == 65  # 500 - 500 + 65 (70.00 - 5.00 discount)

    first = shop.orders.refund("o-1", refund("r-1", ("SHIRT", 1)))
    assert first.status == "reversed"
    again = shop.orders.refund("o-1", refund("r-1", ("SHIRT", 1)))
    assert again == first  # the same refund twice takes back once
    second = shop.orders.refund("o-1", refund("r-2", ("SOCKS", 4)))
    cancelled = shop.orders.cancel("o-1")
    assert cancelled.status == "reversed"
    taken = (first.points_reversed or 0) + (second.points_reversed or 0) + (cancelled.points_reversed or 0)
    assert taken == 65  # never more than earned
    assert cancelled.points_returned == 500
    assert shop.balance("c-1") == 500
    assert shop.orders.cancel("o-1") == cancelled
    assert shop.metrics.total(MetricName.POINTS_REVERSED) == 65


def test_a_refund_the_balance_no_longer_covers_records_the_shortfall(shop: Shop) -> None:
    shop.customer("c-1")
    shop.orders.place(order("o-1", "c-1", basket()))  # +70
    held = shop.checkout.hold(
        RedemptionRequest(customer_id="c-1", cart_id="cart-1", points=60, order_total=Decimal("200.00"))
    )
    shop.orders.place(order("o-2", "c-1", [line("HAT", "0.50")], redemption_id=held.redemption_id))
    assert shop.balance("c-1") == 10
    answer = shop.orders.refund("o-1", refund("r-1", ("SHIRT", 2), ("SOCKS", 4)))
    assert (answer.points_reversed, answer.shortfall, answer.balance) == (10, 60, 0)
    stored = shop.store.orders["o-1"].reversal("r-1")
    assert stored is not None
    assert stored.result.shortfall == 60


def test_refund_lines_must_match_the_order(shop: Shop) -> None:
    shop.customer("c-1")
    shop.orders.place(order("o-1", "c-1", basket()))
    with pytest.raises(errors.InvalidInput) as invalid:
        shop.orders.refund("o-1", refund("r-1", ("NOPE", 1), ("SHIRT", 3)))
    assert [e["field"] for e in invalid.value.errors] == ["lines.0.sku", "lines.1.quantity"]
    with pytest.raises(errors.NotFound):
        shop.orders.refund("o-404", refund("r-1", ("SHIRT", 1)))


def test_a_refund_of_an_order_not_credited_yet_waits_for_it(shop: Shop) -> None:
    shop.customer("c-1")
    shop.platform.fail_next("post_order", errors.PlatformUnavailable("down"))
    shop.orders.place(order("o-1", "c-1", basket()))
    answer = shop.orders.refund("o-1", refund("r-1", ("SOCKS", 4)))
    assert (answer.status, answer.points_reversed) == ("queued", None)
    post, reversal = queued_envelopes(shop)
    with pytest.raises(errors.Retryable):
        shop.orders.settle(reversal)  # delivered before the order: waits
    shop.orders.settle(post)
    shop.orders.settle(reversal)
    assert shop.balance("c-1") == 50
    assert shop.orders.refund("o-1", refund("r-1", ("SOCKS", 4))).points_reversed == 20


def test_a_reversal_queued_during_an_outage_is_applied_once(shop: Shop) -> None:
    shop.customer("c-1")
    shop.orders.place(order("o-1", "c-1", basket()))
    shop.platform.fail_next("reverse", errors.PlatformUnavailable("down"))
    assert shop.orders.cancel("o-1").status == "queued"
    [envelope] = queued_envelopes(shop)
    shop.orders.settle(envelope)
    shop.orders.settle(envelope)
    assert shop.balance("c-1") == 0
    assert shop.orders.cancel("o-1").points_reversed == 70


def test_a_refused_refund_is_a_new_order_error(shop: Shop) -> None:
    shop.customer("c-1")
    shop.orders.place(order("o-1", "c-1", basket()))
    shop.platform.fail_next("reverse", errors.PlatformRefused("locked", code="order_locked"))
    with pytest.raises(errors.PlatformRefused):
        shop.orders.refund("o-1", refund("r-1", ("SHIRT", 1)))
    [incident] = shop.error_store.records.values()
    assert incident.error_id == "new_order:o-1:r-1"
    assert incident.replay["body"]["kind"] == "order.refund"


def test_placed_at_is_kept_in_utc(shop: Shop) -> None:
    shop.customer("c-1")
    request = order("o-1", "c-1", basket(), placed_at=datetime.fromisoformat("2025-01-15T13:59:00+02:00"))
    shop.orders.place(request)
    assert shop.store.orders["o-1"].order.placed_at.isoformat() == "2025-01-15T11:59:00+00:00"


def test_an_unexpected_platform_failure_is_queued_not_lost(shop: Shop) -> None:
    shop.customer("c-1")
    shop.platform.fail_next("post_order", RuntimeError("connection reset in a way nobody wrapped"))
    answer = shop.orders.place(order("o-1", "c-1", basket()))
    assert (answer.status, answer.reason) == ("queued", "platform_unavailable")
    [envelope] = queued_envelopes(shop)
    shop.orders.settle(envelope)
    assert shop.balance("c-1") == 70


def test_an_order_waiting_for_a_join_that_fails_is_kept_for_replay(shop: Shop) -> None:
    """Nothing is lost: the order of a customer whose account creation then failed becomes a
    New Order Error (the worker gives up on a Permanent error), and its replay credits it
    once the customer has joined."""
    shop.customer("c-1", status=LoyaltyStatus.PENDING)
    shop.orders.place(order("o-1", "c-1", basket()))
    [envelope] = queued_envelopes(shop)
    record = shop.customers.get("c-1")
    assert record is not None
    shop.customers.save(
        record.model_copy(update={"status": LoyaltyStatus.NOT_JOINED, "status_reason": "duplicate_email"}),
        expected_version=record.version,
    )

    with pytest.raises(errors.Permanent) as refused:
        shop.orders.settle(envelope)
    shop.orders.give_up(envelope, refused.value)  # what the order worker does on Permanent

    [kept] = shop.error_store.list(category=None, status=None, limit=10, cursor=None)[0]
    assert (kept.category, kept.subject_id) == (ErrorCategory.NEW_ORDER, "order o-1")
    assert "duplicate_email" in kept.platform_answer

    joined = shop.platform.create_member(
        MemberProfile(email="c-1@example.com"), Consents(), idempotency_key="join:c-1"
    )
    record = shop.customers.get("c-1")
    assert record is not None
    shop.customers.save(
        record.model_copy(update={"status": LoyaltyStatus.JOINED, "member_id": joined.member_id}),
        expected_version=record.version,
    )
    replay = Envelope.model_validate({**kept.replay["body"], "replay_of": kept.error_id})
    shop.orders.settle(replay)
    assert shop.balance("c-1") == 70


PERSONAL = ("ann.lee@example.com", "+44 7700 900123")


def _logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every log line with its extra fields (what the JSON log of the function carries)."""
    return "\n".join(str(vars(record)) for record in caplog.records)


def test_a_platforms_answer_naming_a_person_is_masked_in_logs_errors_and_the_listing(
    shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    from loyalty_bridge.services.admin import error_view

    caplog.set_level("DEBUG")
    shop.customer("c-1")
    detail = f"member {PERSONAL[0]} ({PERSONAL[1]}) is blocked"
    shop.platform.fail_next("post_order", errors.PlatformUnavailable(detail), times=1)
    shop.orders.place(order("o-1", "c-1", basket()))  # queued: the platform is "down"
    shop.platform.fail_next("post_order", errors.PlatformRefused(detail, code="member_blocked"), times=1)
    [envelope] = queued_envelopes(shop)
    shop.orders.settle(envelope)  # refused: a New Order Error
    shop.platform.fail_next("reverse", errors.PlatformRefused(detail, code="member_blocked"), times=1)
    shop.customer("c-2")
    shop.orders.place(order("o-2", "c-2", basket()))
    with pytest.raises(errors.PlatformRefused):
        shop.orders.refund("o-2", refund("r-1", ("SHIRT", 1)))

    records = list(shop.error_store.records.values())
    assert len(records) == 2
    order_record = shop.store.get_order("o-1")
    assert order_record is not None
    shown = [
        _logged(caplog),
        str(order_record.failure),
        *(record.platform_answer for record in records),
        *(error_view(record).model_dump_json() for record in records),
        *(mail.text for mail in shop.mailer.sent),
    ]
    assert all("member_blocked: member a***@e***.com" in r.platform_answer for r in records)
    for text in shown:
        for personal in (*PERSONAL, "ann.lee", "900123"):
            assert personal not in text

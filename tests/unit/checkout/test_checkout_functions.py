"""The checkout functions driven by real-shaped events: the API over its routes (signature,
Idempotency-Key, status codes, problem+json), the order worker's batch policy, the sweeper."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pytest

from loyalty_bridge import errors, wiring
from loyalty_bridge.models.api_checkout import OrderRequest
from loyalty_bridge.models.messages import Envelope
from loyalty_bridge.models.records import ErrorCategory
from loyalty_bridge.services.incidents import IncidentReporter
from loyalty_bridge.settings import get_settings
from loyalty_bridge.signing import StaticSigningKeys
from tests.fake_core import InMemoryIdempotencyStore
from tests.fakes import RecordingMetrics
from tests.lambda_harness import FakeLambdaContext, load_event, load_function, signed_http_event
from tests.unit.checkout.conftest import Shop

KEY_ID, SECRET = "storefront-1", "not-a-real-secret"


@pytest.fixture
def api(shop: Shop, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    wiring.reset()
    module = load_function("checkout_api")
    monkeypatch.setattr(module.app, "signing_keys", StaticSigningKeys({KEY_ID: (SECRET, "storefront")}))
    monkeypatch.setattr(module.app, "idempotency_store", InMemoryIdempotencyStore())
    monkeypatch.setattr(module, "services", module.Services(checkout=shop.checkout, orders=shop.orders))
    yield module
    wiring.reset()


def call(
    api: ModuleType, method: str, path: str, body: Any = None, key: str | None = None, **kwargs: Any
) -> tuple[int, dict[str, Any]]:
    if key is None and method in ("POST", "PUT", "PATCH"):
        key = f"key-{path}-{json.dumps(body, sort_keys=True)}"[:200].replace(" ", "")
    event = signed_http_event(
        method, path, key_id=KEY_ID, secret=SECRET, body=body, idempotency_key=key, **kwargs
    )
    result = api.lambda_handler(event, FakeLambdaContext())
    text = result.get("body") or "null"
    return int(result["statusCode"]), json.loads(text)


def order_body(order_id: str = "o-1", customer_id: str | None = "c-1") -> dict[str, Any]:
    body: dict[str, Any] = load_event("checkout_api_post_order.json")
    document: dict[str, Any] = json.loads(body["body"])
    document.update(order_id=order_id, customer_id=customer_id)
    return document


def test_an_order_posted_again_with_the_same_or_a_new_key_credits_once(api: ModuleType, shop: Shop) -> None:
    shop.customer("c-1")
    status, first = call(api, "POST", "/v1/orders", order_body(), key="k-1")
    assert status == 200
    assert (first["status"], first["points_earned"], first["balance"]) == ("credited", 48, 48)
    assert call(api, "POST", "/v1/orders", order_body(), key="k-1") == (200, first)
    assert call(api, "POST", "/v1/orders", order_body(), key="k-2") == (200, first)
    assert shop.balance("c-1") == 48


def test_a_platform_outage_answers_202(api: ModuleType, shop: Shop) -> None:
    shop.customer("c-1")
    shop.platform.fail_next("post_order", errors.PlatformUnavailable("down"))
    status, answer = call(api, "POST", "/v1/orders", order_body())
    assert status == 202
    assert (answer["status"], answer["reason"], answer["points_earned"]) == (
        "queued",
        "platform_unavailable",
        None,
    )
    assert len(shop.queue.messages) == 1


def test_holds_are_created_201_and_released_204(api: ModuleType, shop: Shop) -> None:
    shop.customer("c-1")
    shop.give_points("c-1", 1000)
    hold = {"customer_id": "c-1", "cart_id": "cart-1", "points": 2000, "order_total": "4000.00"}
    status, problem = call(api, "POST", "/v1/checkout/redemptions", hold)
    assert (status, problem["code"]) == (409, "insufficient_points")  # only 1000 points
    status, problem = call(
        api, "POST", "/v1/checkout/redemptions", dict(hold, points=1000, order_total="10.00")
    )
    assert (status, problem["code"]) == (409, "insufficient_points")  # more than half of 10.00
    status, held = call(api, "POST", "/v1/checkout/redemptions", dict(hold, points=500, order_total="48.48"))
    assert status == 201
    assert (held["points"], held["discount"]) == (500, "5.00")
    path = f"/v1/checkout/redemptions/{held['redemption_id']}"
    assert call(api, "DELETE", path, path_parameters={"redemption_id": held["redemption_id"]})[0] == 204
    assert call(api, "DELETE", path, path_parameters={"redemption_id": held["redemption_id"]})[0] == 204
    missing = "/v1/checkout/redemptions/rd_missing"
    status, problem = call(api, "DELETE", missing, path_parameters={"redemption_id": "rd_missing"})
    assert (status, problem["code"]) == (404, "redemption_not_found")
    assert shop.available("c-1") == 1000


def test_quote_route(api: ModuleType, shop: Shop) -> None:
    shop.customer("c-1001")
    shop.give_points("c-1001", 300)
    body = json.loads(load_event("checkout_api_quote.json")["body"])
    status, quote = call(api, "POST", "/v1/checkout/quote", body)
    assert status == 200
    assert quote["points_to_earn"] == 48
    assert (quote["balance"], quote["redeemable_points"], quote["redeem_points"]) == (300, 300, 300)
    assert quote["discount"] == "3.00"


def test_a_quote_keeps_no_idempotency_record_and_answers_the_balance_of_the_moment(
    api: ModuleType, shop: Shop
) -> None:
    shop.customer("c-1001")
    shop.give_points("c-1001", 300)
    body = json.loads(load_event("checkout_api_quote.json")["body"])
    store = api.app.idempotency_store
    event = signed_http_event("POST", "/v1/checkout/quote", key_id=KEY_ID, secret=SECRET, body=body)
    result = api.lambda_handler(event, FakeLambdaContext())  # no Idempotency-Key: not needed
    assert result["statusCode"] == 200
    status, first = call(api, "POST", "/v1/checkout/quote", body, key="same-key")
    assert (status, first["balance"]) == (200, 300)
    shop.give_points("c-1001", 100)
    body["redeem_points"] = 0
    status, again = call(api, "POST", "/v1/checkout/quote", body, key="same-key")  # another body
    assert (status, again["balance"], again["redeem_points"]) == (200, 400, 0)
    assert not store.records  # nothing was kept


def test_money_as_a_json_float_is_a_422_naming_the_field(api: ModuleType, shop: Shop) -> None:
    body = order_body()
    body["total"] = 53.43
    status, problem = call(api, "POST", "/v1/orders", body)
    assert (status, problem["code"]) == (422, "validation_failed")
    assert [e["field"] for e in problem["errors"]] == ["total"]


def test_refund_and_cancel_routes(api: ModuleType, shop: Shop) -> None:
    shop.customer("c-1")
    call(api, "POST", "/v1/orders", order_body())
    refund = json.loads(load_event("checkout_api_refund.json")["body"])
    path = "/v1/orders/o-1/refunds"
    status, refunded = call(api, "POST", path, refund, path_parameters={"order_id": "o-1"})
    assert status == 200
    assert (refunded["status"], refunded["points_reversed"], refunded["shortfall"]) == ("reversed", 8, 0)
    status, cancelled = call(api, "POST", "/v1/orders/o-1/cancel", path_parameters={"order_id": "o-1"})
    assert status == 200
    assert (cancelled["points_reversed"], cancelled["points_returned"], cancelled["balance"]) == (40, 0, 0)
    status, problem = call(api, "POST", "/v1/orders/nope/cancel", path_parameters={"order_id": "nope"})
    assert (status, problem["code"]) == (404, "order_not_found")


# ---------------------------------------------------------------- order worker


def test_the_sample_worker_event_matches_what_the_api_queues(shop: Shop) -> None:
    """events/ stay real: the queued order is the truncated version of the API sample."""
    request = OrderRequest.model_validate(json.loads(load_event("checkout_api_post_order.json")["body"]))
    queued = Envelope.model_validate_json(load_event("order_worker_order_post.json")["Records"][0]["body"])
    assert queued.payload["order"] == shop.orders._platform_order(request).model_dump(mode="json")


def test_the_worker_credits_queued_orders_and_reports_failures(shop: Shop) -> None:
    worker = load_function("order_worker")
    shop.customer("c-1001")  # member m000001, as in the sample
    event = load_event("order_worker_order_post.json")
    shop.platform.fail_next("post_order", errors.PlatformUnavailable("down"))
    failed = worker.handle(event, FakeLambdaContext(), service=shop.orders)
    assert failed["batchItemFailures"] == [{"itemIdentifier": event["Records"][0]["messageId"]}]
    assert worker.handle(event, FakeLambdaContext(), service=shop.orders)["batchItemFailures"] == []
    assert worker.handle(event, FakeLambdaContext(), service=shop.orders)["batchItemFailures"] == []
    assert shop.balance("c-1001") == 48


def test_the_last_delivery_becomes_a_new_order_error_instead_of_a_silent_dlq(shop: Shop) -> None:
    worker = load_function("order_worker")
    shop.customer("c-1001")
    event = load_event("order_worker_order_post.json")
    event["Records"][0]["attributes"]["ApproximateReceiveCount"] = str(get_settings().queue_max_receives)
    shop.platform.fail_next("post_order", errors.PlatformUnavailable("down"))
    assert worker.handle(event, FakeLambdaContext(), service=shop.orders)["batchItemFailures"] == []
    [incident] = shop.error_store.records.values()
    assert incident.error_id == "new_order:o-1001"
    assert len(shop.mailer.sent) == 1


@pytest.fixture
def two_receives(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """The functions' QUEUE_MAX_RECEIVES set to 2 (template.yaml ties it to maxReceiveCount)."""
    monkeypatch.setenv("QUEUE_MAX_RECEIVES", "2")
    wiring.reset()
    yield 2
    wiring.reset()


def test_the_worker_gives_up_on_the_delivery_queue_max_receives_names(shop: Shop, two_receives: int) -> None:
    worker = load_function("order_worker")
    shop.customer("c-1001")
    event = load_event("order_worker_order_post.json")
    event["Records"][0]["attributes"]["ApproximateReceiveCount"] = str(two_receives)
    shop.platform.fail_next("post_order", errors.PlatformUnavailable("down"))
    assert worker.handle(event, FakeLambdaContext(), service=shop.orders)["batchItemFailures"] == []
    [incident] = shop.error_store.records.values()
    assert incident.error_id == "new_order:o-1001"


def test_an_unreadable_order_message_is_recorded_at_once_and_consumed(shop: Shop) -> None:
    worker = load_function("order_worker")
    event = load_event("order_worker_order_post.json")
    event["Records"][0]["body"] = "{not an order"
    incidents = IncidentReporter(shop.error_store, shop.mailer, shop.settings, metrics=RecordingMetrics())
    answer = worker.handle(event, FakeLambdaContext(), service=shop.orders, incidents=incidents)
    assert answer["batchItemFailures"] == []
    [incident] = shop.error_store.records.values()
    assert incident.category is ErrorCategory.NEW_ORDER
    assert incident.replay == {"queue": "order", "raw": "{not an order"}


# ---------------------------------------------------------------- hold sweeper


def test_the_sweeper_uses_the_scheduled_time() -> None:
    sweeper = load_function("hold_sweeper")
    assert sweeper.sweep_time(load_event("hold_sweeper_schedule.json")) == datetime(
        2025, 1, 15, 12, 35, tzinfo=UTC
    )
    assert sweeper.sweep_time({"time": "garbage"}).tzinfo is not None

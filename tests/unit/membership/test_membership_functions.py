"""The membership functions driven by real-shaped events (events/): the API's routes, status
codes and problem+json replies, and the worker's batch policy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from loyalty_bridge import errors, wiring
from loyalty_bridge.models.domain import LoyaltyStatus
from loyalty_bridge.models.records import ErrorCategory
from loyalty_bridge.services.incidents import IncidentReporter
from loyalty_bridge.signing import StaticSigningKeys
from loyalty_bridge.sqs_batch import EntireBatchFailed
from tests.fake_core import InMemoryIdempotencyStore
from tests.fakes import RecordingMetrics
from tests.lambda_harness import FakeLambdaContext, load_event, load_function, signed_http_event
from tests.unit.membership.conftest import World

KEY_ID, SECRET = "storefront-1", "not-a-real-secret"


@pytest.fixture
def api(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    wiring.reset()
    module = load_function("membership_api")
    monkeypatch.setattr(module.app, "signing_keys", StaticSigningKeys({KEY_ID: (SECRET, "storefront")}))
    monkeypatch.setattr(module.app, "idempotency_store", InMemoryIdempotencyStore())
    monkeypatch.setattr(
        module,
        "services",
        module.Services(signup=world.signup, summary=world.summary, attach=world.attach, phone=world.phone),
    )
    yield module
    wiring.reset()


_keys = iter(range(10**9))


def call(
    api: ModuleType, method: str, path: str, body: Any = None
) -> tuple[int, dict[str, Any], dict[str, str]]:
    key = f"k-{next(_keys)}" if method == "POST" else None
    event = signed_http_event(method, path, key_id=KEY_ID, secret=SECRET, body=body, idempotency_key=key)
    result = api.lambda_handler(event, FakeLambdaContext())
    return int(result["statusCode"]), json.loads(result.get("body") or "null"), result.get("headers") or {}


def sample_body(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(load_event(name)["body"])
    return body


def test_signup_answers_202_with_the_status_then_the_summary_shows_the_card(
    api: ModuleType, world: World
) -> None:
    status, body, _ = call(api, "POST", "/v1/customers", sample_body("membership_api_create_customer.json"))
    assert (status, body) == (202, {"customer_id": "c-1001", "loyalty": {"status": "pending"}})
    stored = world.customers.get("c-1001")
    assert stored is not None
    assert stored.mobile == "+447700900123"  # normalised to E.164
    world.run_worker()
    status, summary, _ = call(api, "GET", "/v1/customers/c-1001/loyalty")
    assert status == 200
    assert summary["status"] == "joined"
    assert summary["join_prompt"] is False
    assert summary["card"]["kind"] == "virtual"
    assert summary["points"] == {"balance": 0, "pending": 0, "redeemable": 0, "point_value": "0.01"}


def test_not_joined_summary_has_a_join_prompt_and_no_card(api: ModuleType) -> None:
    body = dict(sample_body("membership_api_create_customer.json"), join=False)
    assert call(api, "POST", "/v1/customers", body)[0] == 202
    status, summary, _ = call(api, "GET", "/v1/customers/c-1001/loyalty")
    assert status == 200
    assert summary == {
        "customer_id": "c-1001",
        "status": "not_joined",
        "join_prompt": True,
        "reason": "not_requested",
        "accumulate_only": False,
    }
    status, joined, _ = call(api, "POST", "/v1/customers/c-1001/loyalty/join")
    assert (status, joined) == (202, {"status": "pending"})


def test_same_customer_id_with_other_data_is_409(api: ModuleType) -> None:
    body = sample_body("membership_api_create_customer.json")
    assert call(api, "POST", "/v1/customers", body)[0] == 202
    assert call(api, "POST", "/v1/customers", body)[0] == 202  # a retry with a new key
    status, problem, headers = call(api, "POST", "/v1/customers", dict(body, last_name="Other"))
    assert (status, problem["code"]) == (409, "customer_exists")
    assert headers["Content-Type"] == "application/problem+json"


def test_bad_bodies_are_422_naming_the_fields(api: ModuleType) -> None:
    body = dict(
        sample_body("membership_api_create_customer.json"), email="not-an-email", mobile="12", shoe_size=9
    )
    status, problem, _ = call(api, "POST", "/v1/customers", body)
    assert status == 422
    fields = {e["field"] for e in problem["errors"]}
    assert {"email", "mobile", "shoe_size"} <= fields
    assert "Traceback" not in json.dumps(problem)


def test_unknown_customer_is_404(api: ModuleType) -> None:
    status, problem, _ = call(api, "GET", "/v1/customers/nobody/loyalty")
    assert (status, problem["code"]) == (404, "customer_not_found")


def test_attach_replies_are_identical_for_unknown_and_mismatched_cards(api: ModuleType, world: World) -> None:
    other = world.existing_member("someone@example.com").card.number
    attach = sample_body("membership_api_attach.json")
    replies = []
    for customer_id, card in (("c-1", attach["card_number"]), ("c-2", other)):
        world.sign_up(customer_id, email="ann.lee@example.com", join=False)
        status, started, _ = call(
            api, "POST", f"/v1/customers/{customer_id}/loyalty/attach", dict(attach, card_number=card)
        )
        assert status == 202
        assert set(started) == {"verification", "expires_at"}
        code = world.last_code("ann.lee@example.com")
        status, problem, _ = call(
            api, "POST", f"/v1/customers/{customer_id}/loyalty/attach/confirm", {"code": code}
        )
        problem.pop("request_id")
        replies.append((status, problem))
    assert replies[0] == replies[1]
    assert replies[0][0] == 422
    assert replies[0][1]["code"] == "card_not_attachable"


def test_rate_limited_attach_is_429_with_retry_after(api: ModuleType, world: World) -> None:
    world.sign_up("c-1", email="ann.lee@example.com", join=False)
    attach = sample_body("membership_api_attach.json")
    for _ in range(5):
        assert call(api, "POST", "/v1/customers/c-1/loyalty/attach", attach)[0] == 202
    status, problem, headers = call(api, "POST", "/v1/customers/c-1/loyalty/attach", attach)
    assert (status, problem["code"]) == (429, "rate_limited")
    assert int(headers["Retry-After"]) > 0


def test_phone_code_join_answers_the_summary(api: ModuleType, world: World) -> None:
    world.sign_up("c-1", join=False)
    status, sent, _ = call(api, "POST", "/v1/customers/c-1/loyalty/phone", {"mobile": "+44 7700 900123"})
    assert (status, set(sent)) == (202, {"expires_at"})
    status, summary, _ = call(
        api, "POST", "/v1/customers/c-1/loyalty/phone/confirm", {"code": world.last_sms_code()}
    )
    assert status == 200
    assert summary["status"] == "joined"
    assert "number" in summary["card"]


def test_platform_outage_on_a_route_is_503_without_details(api: ModuleType, world: World) -> None:
    world.sign_up("c-1", join=False)
    world.platform.fail_next("find_members", errors.PlatformUnavailable("db at 10.0.0.7 timed out"))
    status, problem, headers = call(
        api,
        "POST",
        "/v1/customers/c-1/loyalty/attach",
        sample_body("membership_api_attach.json") | {"email": "ann@example.com"},
    )
    assert status == 503
    assert "10.0.0.7" not in json.dumps(problem)
    assert headers["Retry-After"]


# ---------------------------------------------------------------- worker


@pytest.fixture
def worker() -> ModuleType:
    return load_function("membership_worker")


def _sqs_event(world: World, receive_count: int = 1) -> dict[str, Any]:
    event = load_event("membership_worker_create.json")
    record = event["Records"][0]
    record["attributes"]["ApproximateReceiveCount"] = str(receive_count)
    return event


def test_worker_sample_event_joins_the_customer(worker: ModuleType, world: World) -> None:
    world.sign_up("c-1001")
    world.queue.drain()
    result = worker.handle(_sqs_event(world), FakeLambdaContext(), world.enrolment)
    assert result == {"batchItemFailures": []}
    assert world.status("c-1001") is LoyaltyStatus.JOINED


def test_worker_reports_a_retryable_failure_then_gives_up_on_the_last_receive(
    worker: ModuleType, world: World
) -> None:
    world.sign_up("c-1001")
    world.platform.fail_next("create_member", errors.PlatformUnavailable("timeout"), times=5)
    # Every record of the batch failed: Powertools raises so the whole batch is retried.
    with pytest.raises(EntireBatchFailed):
        worker.handle(_sqs_event(world, 1), FakeLambdaContext(), world.enrolment)
    assert world.status("c-1001") is LoyaltyStatus.PENDING
    assert world.errors.records == {}
    result = worker.handle(_sqs_event(world, 5), FakeLambdaContext(), world.enrolment)
    assert result == {"batchItemFailures": []}
    assert world.status("c-1001") is LoyaltyStatus.NOT_JOINED
    assert len(world.errors.records) == 1


def test_worker_records_a_message_for_an_unknown_customer(worker: ModuleType, world: World) -> None:
    result = worker.handle(_sqs_event(world), FakeLambdaContext(), world.enrolment)
    assert result == {"batchItemFailures": []}
    [incident] = world.errors.records.values()
    assert incident.customer_id == "c-1001"
    assert "customer_not_found" in incident.platform_answer


def test_worker_gives_up_on_the_delivery_queue_max_receives_names(
    worker: ModuleType, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUEUE_MAX_RECEIVES", "2")
    wiring.reset()
    try:
        world.sign_up("c-1001")
        world.platform.fail_next("create_member", errors.PlatformUnavailable("timeout"), times=2)
        with pytest.raises(EntireBatchFailed):
            worker.handle(_sqs_event(world, 1), FakeLambdaContext(), world.enrolment)
        result = worker.handle(_sqs_event(world, 2), FakeLambdaContext(), world.enrolment)
    finally:
        wiring.reset()
    assert result == {"batchItemFailures": []}
    assert world.status("c-1001") is LoyaltyStatus.NOT_JOINED
    assert len(world.errors.records) == 1


def test_worker_records_an_unreadable_message_at_once(worker: ModuleType, world: World) -> None:
    event = _sqs_event(world)
    event["Records"][0]["body"] = "[]"
    reporter = IncidentReporter(world.errors, world.mailer, world.settings, metrics=RecordingMetrics())
    result = worker.handle(event, FakeLambdaContext(), world.enrolment, incidents=reporter)
    assert result == {"batchItemFailures": []}
    [incident] = world.errors.records.values()
    assert incident.category is ErrorCategory.NEW_ACCOUNT
    assert incident.replay == {"queue": "membership", "raw": "[]"}


def test_the_sample_summary_event_with_a_stale_signature_is_401(api: ModuleType) -> None:
    result = api.lambda_handler(load_event("membership_api_loyalty_summary.json"), FakeLambdaContext())
    assert result["statusCode"] == 401
    assert json.loads(result["body"])["code"] == "unauthorized"

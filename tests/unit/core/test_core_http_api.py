"""make_resolver(): what a storefront sees for bad, unsigned, oversized and repeated requests."""

from __future__ import annotations

import base64
import json
import threading
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

from loyalty_bridge import http_api, signing
from tests.fake_core import InMemoryIdempotencyStore
from tests.lambda_harness import FakeLambdaContext, http_event, signed_http_event
from tests.unit.core.thing_api import ADMIN, OTHER_STOREFRONT, STOREFRONT, ThingApi, build_api

THING = {"name": "lamp", "size": 3}


def call(api: ThingApi, event: dict[str, Any]) -> dict[str, Any]:
    return api.app.resolve(event, FakeLambdaContext())  # type: ignore[arg-type]


def signed(method: str, path: str, *, key: tuple[str, str] = STOREFRONT, **kwargs: Any) -> dict[str, Any]:
    if method in ("POST", "PUT", "PATCH"):
        kwargs.setdefault("idempotency_key", "idem-1")
    return signed_http_event(method, path, key_id=key[0], secret=key[1], **kwargs)


def problem(result: dict[str, Any]) -> dict[str, Any]:
    assert result["headers"]["Content-Type"] == "application/problem+json"
    body: dict[str, Any] = json.loads(result["body"])
    assert set(body) >= {"type", "title", "status", "detail", "code", "request_id"}
    assert body["status"] == result["statusCode"]
    return body


# ---------------------------------------------------------------- the happy path


def test_signed_write_reaches_the_route_with_the_verified_key_id(api: ThingApi) -> None:
    result = call(api, signed("POST", "/v1/things", body=THING))
    assert result["statusCode"] == 201
    expected = {"id": "t-1", "name": "lamp", "size": 3, "note": None, "by": "shop-1"}
    assert json.loads(result["body"]) == expected
    assert result["headers"]["Location"] == "/v1/things/t-1"


def test_signed_read_with_query_string(api: ThingApi) -> None:
    result = call(api, signed("GET", "/v1/things/t-9", query="expand=owner&v=2"))
    assert result["statusCode"] == 200
    assert json.loads(result["body"]) == {"id": "t-9", "by": "shop-1"}


def test_base64_encoded_body_is_accepted(api: ThingApi) -> None:
    result = call(api, signed("POST", "/v1/things", body=THING, base64_body=True))
    assert result["statusCode"] == 201
    assert api.created == [{"name": "lamp", "size": 3, "note": None}]


def test_unicode_body_round_trips(api: ThingApi) -> None:
    result = call(api, signed("POST", "/v1/things", body={"name": "Lámpara 日本", "size": 1}))
    assert result["statusCode"] == 201
    assert json.loads(result["body"])["name"] == "Lámpara 日本"


# ---------------------------------------------------------------- 401 / 403


def _unauthorized_variants() -> dict[str, dict[str, Any]]:
    good = signed("POST", "/v1/things", body=THING)
    no_headers = http_event("POST", "/v1/things", body=THING, headers={"Idempotency-Key": "idem-1"})
    unknown_key = signed("POST", "/v1/things", key=("nobody", "whatever"), body=THING)
    stale = signed("POST", "/v1/things", body=THING, timestamp=1_000_000_000)
    bad_signature = json.loads(json.dumps(good))
    bad_signature["headers"]["x-bridge-signature"] = "0" * 64
    other_body = json.loads(json.dumps(good))
    other_body["body"] = json.dumps({"name": "lamp", "size": 4})
    other_path = signed("POST", "/v1/things/other", body=THING)
    other_path["rawPath"] = other_path["requestContext"]["http"]["path"] = "/v1/things"
    missing_signature = json.loads(json.dumps(good))
    del missing_signature["headers"]["x-bridge-signature"]
    return {
        "no headers": no_headers,
        "missing signature": missing_signature,
        "unknown key": unknown_key,
        "stale timestamp": stale,
        "bad signature": bad_signature,
        "body changed": other_body,
        "path changed": other_path,
    }


@pytest.mark.parametrize("variant", list(_unauthorized_variants()))
def test_bad_signatures_get_one_indistinguishable_401(api: ThingApi, variant: str) -> None:
    event = _unauthorized_variants()[variant]
    event["requestContext"]["requestId"] = "req-401"
    result = call(api, event)
    assert result["statusCode"] == 401
    body = problem(result)
    assert body == {
        "type": "https://loyalty-bridge.dev/problems/unauthorized",
        "title": "Unauthorized",
        "status": 401,
        "detail": "The request signature is missing or invalid.",
        "code": "unauthorized",
        "request_id": "req-401",
    }
    assert api.created == []


def test_unsigned_request_with_an_invalid_body_is_401_not_422(api: ThingApi) -> None:
    result = call(api, http_event("POST", "/v1/things", body={"size": -1}, headers={"Idempotency-Key": "k"}))
    assert result["statusCode"] == 401


def test_storefront_key_on_an_admin_resolver_is_403(idempotency_store: InMemoryIdempotencyStore) -> None:
    admin_api = build_api(idempotency_store, scope="admin")
    result = call(admin_api, signed("GET", "/v1/things/t-1", key=STOREFRONT))
    assert result["statusCode"] == 403
    assert problem(result)["code"] == "forbidden"
    allowed = call(admin_api, signed("GET", "/v1/things/t-1", key=ADMIN))
    assert allowed["statusCode"] == 200
    assert json.loads(allowed["body"])["by"] == "ops-1"


def test_unsigned_resolver_needs_no_signature(idempotency_store: InMemoryIdempotencyStore) -> None:
    open_api = build_api(idempotency_store, signed=False, idempotent_writes=False)
    result = call(open_api, http_event("GET", "/v1/things/t-1"))
    assert result["statusCode"] == 200
    assert json.loads(result["body"])["by"] == "-"


# ---------------------------------------------------------------- 413 / 400 / 415 / 422 / 404


def _body_of_size(size: int) -> str:
    skeleton = '{"name":"","size":1}'
    return skeleton.replace('""', '"' + "a" * (size - len(skeleton)) + '"')


def test_body_of_exactly_64_kib_is_accepted(api: ThingApi) -> None:
    body = _body_of_size(64 * 1024)
    assert len(body.encode()) == 65536
    assert call(api, signed("POST", "/v1/things", body=body))["statusCode"] == 201


@pytest.mark.parametrize("base64_body", [False, True])
def test_body_over_64_kib_is_413(api: ThingApi, base64_body: bool) -> None:
    event = signed("POST", "/v1/things", body=_body_of_size(64 * 1024 + 1), base64_body=base64_body)
    result = call(api, event)
    assert result["statusCode"] == 413
    assert problem(result)["code"] == "payload_too_large"
    assert api.created == []


@pytest.mark.parametrize("body", ['{"name": "lamp",', "not json", '{"name": "x"}}', "\ufeff{}"])
@pytest.mark.parametrize("base64_body", [False, True])
def test_malformed_json_is_400_not_422(api: ThingApi, body: str, base64_body: bool) -> None:
    result = call(api, signed("POST", "/v1/things", body=body, base64_body=base64_body))
    assert result["statusCode"] == 400
    assert problem(result)["code"] == "malformed_json"


def test_base64_body_that_is_not_utf8_is_400(api: ThingApi) -> None:
    raw = b"\xff\xfe\xfd"
    event = signed("POST", "/v1/things", body=THING, base64_body=True)
    event["headers"].update(
        {
            k.lower(): v
            for k, v in signing.signed_headers(
                STOREFRONT[0], STOREFRONT[1], "POST", "/v1/things", raw
            ).items()
        }
    )
    event["body"] = base64.b64encode(raw).decode()
    result = call(api, event)
    assert result["statusCode"] == 400
    assert problem(result)["code"] == "malformed_json"


def test_missing_and_invalid_fields_are_422_listing_them(api: ThingApi) -> None:
    result = call(api, signed("POST", "/v1/things", body={"size": "big"}))
    assert result["statusCode"] == 422
    body = problem(result)
    assert body["code"] == "validation_failed"
    fields = {error["field"] for error in body["errors"]}
    assert fields == {"name", "size"}


def test_non_json_content_type_is_415(api: ThingApi) -> None:
    result = call(api, signed("POST", "/v1/things", body="name=lamp", headers={"content-type": "text/plain"}))
    assert result["statusCode"] == 415
    assert problem(result)["code"] == "unsupported_media_type"


def test_form_data_without_a_boundary_is_415_not_a_server_error(api: ThingApi) -> None:
    body = '{"name": "lamp", "size": 1}'
    form = {"content-type": "multipart/form-data"}
    result = call(api, signed("POST", "/v1/things", body=body, headers=form))
    assert result["statusCode"] == 415
    assert problem(result)["code"] == "unsupported_media_type"


def test_unknown_route_is_404_problem(api: ThingApi) -> None:
    result = call(api, signed("GET", "/v1/nothing-here"))
    assert result["statusCode"] == 404
    assert problem(result)["code"] == "route_not_found"


def test_domain_not_found_is_404_with_its_code(api: ThingApi) -> None:
    result = call(api, signed("GET", "/v1/things/missing"))
    assert result["statusCode"] == 404
    assert problem(result)["code"] == "thing_not_found"


def test_unexpected_errors_are_500_without_internals(api: ThingApi) -> None:
    result = call(api, signed("POST", "/v1/things/crash", body={}))
    assert result["statusCode"] == 500
    body = problem(result)
    assert body["code"] == "internal_error"
    assert "c-42" not in result["body"]
    assert "secret" not in result["body"]


def test_request_id_in_problems_is_the_api_gateway_request_id(api: ThingApi) -> None:
    result = call(api, signed("GET", "/v1/things/missing", request_id="Abc123="))
    assert problem(result)["request_id"] == "Abc123="


# ---------------------------------------------------------------- Idempotency-Key


def test_write_without_idempotency_key_is_400(api: ThingApi) -> None:
    event = signed("POST", "/v1/things", body=THING, idempotency_key=None)
    result = call(api, event)
    assert result["statusCode"] == 400
    assert problem(result)["code"] == "idempotency_key_required"


def test_invalid_idempotency_key_is_400(api: ThingApi) -> None:
    result = call(api, signed("POST", "/v1/things", body=THING, idempotency_key="x" * 256))
    assert result["statusCode"] == 400
    assert problem(result)["code"] == "idempotency_key_invalid"


def test_same_key_same_body_replays_the_first_response(api: ThingApi) -> None:
    first = call(api, signed("POST", "/v1/things", body=THING, idempotency_key="order-1"))
    again = call(api, signed("POST", "/v1/things", body=THING, idempotency_key="order-1"))
    assert first["statusCode"] == 201
    assert again == first
    assert len(api.created) == 1


def test_same_key_other_body_is_409(api: ThingApi) -> None:
    call(api, signed("POST", "/v1/things", body=THING, idempotency_key="order-1"))
    result = call(api, signed("POST", "/v1/things", body={**THING, "size": 4}, idempotency_key="order-1"))
    assert result["statusCode"] == 409
    assert problem(result)["code"] == "idempotency_key_reused"
    assert len(api.created) == 1


def test_same_key_other_query_is_409(api: ThingApi) -> None:
    call(api, signed("POST", "/v1/things", body=THING, idempotency_key="k", query="dry=0"))
    result = call(api, signed("POST", "/v1/things", body=THING, idempotency_key="k", query="dry=1"))
    assert problem(result)["code"] == "idempotency_key_reused"


def test_keys_are_scoped_per_caller_and_path(api: ThingApi) -> None:
    first = call(api, signed("POST", "/v1/things", body=THING, idempotency_key="k"))
    other_body = {**THING, "size": 9}
    other_event = signed("POST", "/v1/things", key=OTHER_STOREFRONT, body=other_body, idempotency_key="k")
    other_caller = call(api, other_event)
    other_path = call(api, signed("POST", "/v1/things/flaky", body={}, idempotency_key="k"))
    assert [first["statusCode"], other_caller["statusCode"], other_path["statusCode"]] == [201, 201, 200]
    assert json.loads(other_caller["body"])["by"] == "shop-2"


def test_failed_5xx_responses_are_not_stored(api: ThingApi) -> None:
    api.flaky_failures = 1
    failed = call(api, signed("POST", "/v1/things/flaky", body={}, idempotency_key="retry-me"))
    assert failed["statusCode"] == 503
    assert problem(failed)["code"] == "temporarily_unavailable"
    retried = call(api, signed("POST", "/v1/things/flaky", body={}, idempotency_key="retry-me"))
    assert retried["statusCode"] == 200
    assert json.loads(retried["body"]) == {"ok": True, "idempotency_key": "retry-me"}
    assert api.created == [{"flaky": True}]


class AnswerNotStored(InMemoryIdempotencyStore):
    """The answer's write fails ``fail_updates`` times (the in-progress record was written);
    with ``fail_deletes`` the clearing of that record fails too."""

    def __init__(self, *, fail_updates: int = 1, fail_deletes: bool = False) -> None:
        super().__init__()
        self.fail_updates = fail_updates
        self.fail_deletes = fail_deletes

    def _update_record(self, data_record: DataRecord) -> None:
        if self.fail_updates > 0:
            self.fail_updates -= 1
            raise ConnectionError("reply lost")
        super()._update_record(data_record)

    def _delete_record(self, data_record: DataRecord) -> None:
        if self.fail_deletes:
            raise ConnectionError("table unavailable")
        super()._delete_record(data_record)


def test_an_answer_that_could_not_be_stored_leaves_the_key_free_for_the_retry() -> None:
    # The route ran; storing its answer failed: 503 "retry", and the retry runs the route
    # again (which finds what the first run wrote), not 409 request_in_progress until the
    # first invocation's timeout.
    api = build_api(AnswerNotStored())
    first = call(api, signed("POST", "/v1/things", body=THING, idempotency_key="lost-answer"))
    assert first["statusCode"] == 503
    assert problem(first)["code"] == "temporarily_unavailable"
    retried = call(api, signed("POST", "/v1/things", body=THING, idempotency_key="lost-answer"))
    assert retried["statusCode"] == 201
    assert call(api, signed("POST", "/v1/things", body=THING, idempotency_key="lost-answer")) == retried
    assert len(api.created) == 2


def test_when_the_in_progress_record_cannot_be_cleared_either_the_retry_waits_for_it() -> None:
    api = build_api(AnswerNotStored(fail_deletes=True))
    first = call(api, signed("POST", "/v1/things", body=THING, idempotency_key="stuck"))
    assert problem(first)["code"] == "temporarily_unavailable"
    retried = call(api, signed("POST", "/v1/things", body=THING, idempotency_key="stuck"))
    assert retried["statusCode"] == 409
    assert problem(retried)["code"] == "request_in_progress"
    assert len(api.created) == 1


def test_conflicts_are_not_stored_so_a_retry_runs_again(api: ThingApi) -> None:
    first = call(api, signed("POST", "/v1/things/conflict", body={}, idempotency_key="c"))
    second = call(api, signed("POST", "/v1/things/conflict", body={}, idempotency_key="c"))
    assert problem(first)["code"] == problem(second)["code"] == "version_conflict"


def test_validation_failures_are_replayed(api: ThingApi) -> None:
    first = call(api, signed("POST", "/v1/things", body={"size": 1}, idempotency_key="v"))
    again = call(api, signed("POST", "/v1/things", body={"size": 1}, idempotency_key="v"))
    assert first["statusCode"] == 422
    assert again == first


def test_concurrent_request_with_the_same_key_is_409_in_progress(
    idempotency_store: InMemoryIdempotencyStore,
) -> None:
    first_api = build_api(idempotency_store)
    second_api = build_api(idempotency_store)  # another container, same IdempotencyTable
    event = signed("POST", "/v1/slow", body=THING, idempotency_key="same")
    seen: list[dict[str, Any]] = []

    @first_api.app.post("/v1/slow")
    def slow() -> Response[str]:
        # While this request runs, the storefront retries it.
        seen.append(second_api.app.resolve(event, FakeLambdaContext()))  # type: ignore[arg-type]
        return Response(200, "application/json", "{}")

    @second_api.app.post("/v1/slow")
    def never() -> dict[str, Any]:
        raise AssertionError("the retry must not run the route")

    assert call(first_api, event)["statusCode"] == 200
    assert seen[0]["statusCode"] == 409
    assert problem(seen[0])["code"] == "request_in_progress"
    assert seen[0]["headers"]["Retry-After"] == "1"


def test_reads_do_not_need_an_idempotency_key(
    api: ThingApi, idempotency_store: InMemoryIdempotencyStore
) -> None:
    assert call(api, signed("GET", "/v1/things/t-1"))["statusCode"] == 200
    assert idempotency_store.records == {}


def test_context_is_cleared_after_each_request(api: ThingApi) -> None:
    call(api, signed("POST", "/v1/things", body=THING))
    assert http_api.current_key_id(api.app) == "-"
    assert api.app.context == {}


# ---------------------------------------------------------------- two resolvers at once


def test_two_resolvers_serving_at_once_each_read_their_own_request() -> None:
    """Powertools keeps the event being resolved on a class shared by every resolver in the
    process; the local stack runs several warm containers of a function in one process, so
    a route must read its own request even while another resolver has resolved one since."""
    first_waits, second_done = threading.Event(), threading.Event()
    seen: dict[str, Any] = {}

    def echo_api(name: str) -> http_api.BridgeResolver:
        app = http_api.make_resolver(signed=False, idempotent_writes=False)

        @app.post("/v1/echo")
        def echo() -> dict[str, Any]:
            if name == "first":
                first_waits.set()
                assert second_done.wait(10)
            seen[name] = (app.current_event.json_body["n"], app.lambda_context.function_name)
            return {"n": app.current_event.json_body["n"]}

        return app

    first, second = echo_api("first"), echo_api("second")
    results: dict[str, dict[str, Any]] = {}

    def serve(app: http_api.BridgeResolver, name: str, n: int) -> None:
        context = FakeLambdaContext(function_name=f"fn-{name}")
        results[name] = app.resolve(http_event("POST", "/v1/echo", body={"n": n}), context)  # type: ignore[arg-type]

    worker = threading.Thread(target=serve, args=(first, "first", 1))
    worker.start()
    assert first_waits.wait(10)
    serve(second, "second", 2)
    second_done.set()
    worker.join(10)
    assert seen == {"first": (1, "fn-first"), "second": (2, "fn-second")}
    assert json.loads(results["first"]["body"]) == {"n": 1}

"""Foundation acceptance (issue 2): the signed HTTP API as a storefront sees it.

Written against API.md's contract: problem+json errors with a stable ``code``, 401 for a
missing or bad signature, 4xx (never 500) for bad input.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from bridge_local.client import SignedClient
from bridge_local.stack import LocalStackProcess
from loyalty_bridge.signing import signed_headers

PROBLEM = "application/problem+json"
PROBLEM_FIELDS = {"type", "title", "status", "detail", "code", "request_id"}


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    document: dict[str, Any] = response.json()
    assert set(document) >= PROBLEM_FIELDS
    assert document["status"] == status
    assert "Traceback" not in response.text
    return document


@pytest.fixture
def raw_http(local_stack: LocalStackProcess) -> httpx.Client:
    return httpx.Client(base_url=local_stack.base_url, timeout=30)


def test_health_is_served_unsigned(raw_http: httpx.Client) -> None:
    response = raw_http.get("/v1/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_unsigned_signup_is_401_problem_json(
    raw_http: httpx.Client, new_customer: Callable[..., Any]
) -> None:
    response = raw_http.post(
        "/v1/customers",
        content=json.dumps(new_customer()),
        headers={"content-type": "application/json", "idempotency-key": "k-unsigned"},
    )
    assert _problem(response, 401)["code"] == "unauthorized"


@pytest.mark.parametrize(
    "flaw", ["wrong_secret", "unknown_key", "stale_timestamp", "body_changed", "path_changed"]
)
def test_badly_signed_signup_is_401_problem_json(
    local_stack: LocalStackProcess, raw_http: httpx.Client, new_customer: Callable[..., Any], flaw: str
) -> None:
    key = local_stack.key("storefront")
    body = json.dumps(new_customer()).encode()
    key_id, secret, now, signed_body, signed_path = key.key_id, key.secret, time.time(), body, "/v1/customers"
    if flaw == "wrong_secret":
        secret = "not-the-secret"
    elif flaw == "unknown_key":
        key_id = "nobody"
    elif flaw == "stale_timestamp":
        now -= 301
    elif flaw == "body_changed":
        signed_body = body.replace(b"Ann", b"Bob")
    elif flaw == "path_changed":
        signed_path = "/v1/customers?x=1"
    headers = signed_headers(key_id, secret, "POST", signed_path, signed_body, now=now)
    response = raw_http.post(
        "/v1/customers",
        content=body,
        headers={**headers, "content-type": "application/json", "idempotency-key": f"k-{flaw}"},
    )
    assert _problem(response, 401)["code"] == "unauthorized"


def test_malformed_json_is_a_4xx_problem(signed_client: SignedClient) -> None:
    response = signed_client.post("/v1/customers", content=b'{"customer_id": "c-1", "email": ')
    assert 400 <= response.status_code < 500
    problem = _problem(response, response.status_code)
    assert problem["code"] in {"malformed_json", "validation_failed"}


def test_a_body_over_64_kib_is_413(signed_client: SignedClient, new_customer: Callable[..., Any]) -> None:
    body = new_customer(first_name="A" * (65 * 1024))
    response = signed_client.post("/v1/customers", json=body)
    _problem(response, 413)


def test_missing_fields_are_422_listing_them(signed_client: SignedClient) -> None:
    response = signed_client.post("/v1/customers", json={"customer_id": "c-missing-fields"})
    problem = _problem(response, 422)
    assert problem["code"] == "validation_failed"
    named = " ".join(str(error.get("field", "")) for error in problem["errors"])
    assert "email" in named


def test_unknown_customer_is_404(signed_client: SignedClient) -> None:
    response = signed_client.get("/v1/customers/c-never-created-0001/loyalty")
    assert _problem(response, 404)["code"].endswith("not_found")


def test_same_idempotency_key_and_body_answers_the_first_response_again(
    signed_client: SignedClient, new_customer: Callable[..., Any]
) -> None:
    body = new_customer()
    first = signed_client.post("/v1/customers", json=body, idempotency_key=f"idem-{body['customer_id']}")
    again = signed_client.post("/v1/customers", json=body, idempotency_key=f"idem-{body['customer_id']}")
    assert first.status_code == 202, first.text
    assert (again.status_code, again.json()) == (first.status_code, first.json())


def test_same_idempotency_key_with_another_body_is_409(
    signed_client: SignedClient, new_customer: Callable[..., Any]
) -> None:
    body = new_customer()
    key = f"idem-{body['customer_id']}"
    assert signed_client.post("/v1/customers", json=body, idempotency_key=key).status_code == 202
    other = signed_client.post("/v1/customers", json={**body, "first_name": "Someone"}, idempotency_key=key)
    assert _problem(other, 409)["code"] == "idempotency_key_reused"

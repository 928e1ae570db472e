"""contracts/platform-openapi.yaml itself, and the fake platform's HTTP rules (auth,
idempotency keys, admin fault endpoint, contract checking) seen over raw HTTP."""

from __future__ import annotations

import inspect

import httpx
import pytest
from openapi_spec_validator import validate

from loyalty_bridge.ports import LoyaltyPlatform
from tests.fake_rest_platform import DEFAULT_TOKEN, FakePlatformServer
from tests.fake_rest_platform.contract import contract_checker

pytestmark = pytest.mark.integration

AUTH = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
PROFILE = {"profile": {"email": "ann@example.com"}, "consents": {"email": True, "sms": False}}

# Every port operation and the contract operation that carries it.
PORT_TO_CONTRACT = {
    "create_member": {"createMember"},
    "get_member": {"getMember"},
    "find_members": {"searchMembers"},
    "attach_card": {"attachCard"},
    "merge_cards": {"mergeCards"},
    "get_balance": {"getBalance"},
    "update_profile": {"updateMember"},
    "set_consents": {"setConsents"},
    "quote": {"quoteBasket"},
    "hold_points": {"createHold"},
    "release_hold": {"releaseHold"},
    "post_order": {"postOrder"},
    "reverse": {"reverseOrder"},
    "rewards": {"listRewards"},
    "redeem_reward": {"redeemReward"},
    "coupons": {"listCoupons"},
    "import_cards": {"importCards"},
    "member_profile": {"getMemberProfile"},
    "adjust": {"adjustPoints"},
    "activity": {"listActivity"},
    "stats": set(),  # the contract has no statistics: the REST adapter answers available=False
    "block_card": {"blockCard"},
    "replace_card": {"replaceCard"},
    "erase_member": {"eraseMember"},
    "import_members": set(),  # the contract has no import: the REST adapter answers not_supported_by_platform
}


def test_contract_is_a_valid_openapi_3_1_document() -> None:
    document = contract_checker().document

    validate(document)

    assert document["openapi"].startswith("3.1")


def test_every_port_operation_has_a_contract_operation_and_nothing_else() -> None:
    members = inspect.getmembers(LoyaltyPlatform, inspect.isfunction)
    port_methods = {name for name, _ in members if not name.startswith("_")}
    assert set(PORT_TO_CONTRACT) == port_methods
    assert set().union(*PORT_TO_CONTRACT.values()) == set(contract_checker().operations)


def test_every_write_requires_an_idempotency_key_in_the_contract() -> None:
    for operation in contract_checker().operations.values():
        headers = {param["name"] for param in operation.params if param.get("in") == "header"}
        is_read = operation.method == "GET" or operation.operation_id in ("searchMembers", "quoteBasket")
        assert ("Idempotency-Key" in headers) != is_read, operation.operation_id


def test_requests_without_a_known_bearer_token_are_refused(fake_platform: FakePlatformServer) -> None:
    with httpx.Client(base_url=fake_platform.url) as http:
        missing = http.get("/v1/members/m1")
        wrong = http.get("/v1/members/m1", headers={"Authorization": "Bearer nope"})

    for answer in (missing, wrong):
        assert answer.status_code == 401
        assert answer.json()["code"] == "unauthorized"
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_write_without_an_idempotency_key_is_refused(fake_platform: FakePlatformServer) -> None:
    with httpx.Client(base_url=fake_platform.url, headers=AUTH) as http:
        answer = http.post("/v1/members", json=PROFILE)

    assert answer.status_code == 400
    assert answer.json()["code"] == "idempotency_key_missing"
    fake_platform.violations.clear()  # the checker rightly flagged the missing header


def test_a_key_is_replayed_for_the_same_request_and_refused_for_another(
    fake_platform: FakePlatformServer,
) -> None:
    with httpx.Client(base_url=fake_platform.url, headers={**AUTH, "Idempotency-Key": "k-1"}) as http:
        first = http.post("/v1/members", json=PROFILE)
        again = http.post("/v1/members", json=PROFILE)
        other = http.post("/v1/members", json={**PROFILE, "consents": {"email": False, "sms": False}})

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_key_reused"


def test_faults_can_be_injected_over_http_for_standalone_use(fake_platform: FakePlatformServer) -> None:
    with httpx.Client(base_url=fake_platform.url, headers=AUTH) as http:
        injected = http.post("/_fake/faults", json={"kind": "status", "status": 503, "times": 2})
        first = http.get("/v1/members/m1")
        second = http.get("/v1/members/m1")
        third = http.get("/v1/members/m1")
        log = http.get("/_fake/requests").json()["requests"]
        bad = http.post("/_fake/faults", json={"kind": "meteor"})

    assert injected.status_code == 201
    assert [first.status_code, second.status_code, third.status_code] == [503, 503, 404]
    assert first.json()["code"] == "unavailable"
    assert [entry["status"] for entry in log] == [503, 503, 404]
    assert bad.status_code == 400


def test_the_fake_flags_a_request_that_breaks_the_contract(fake_platform: FakePlatformServer) -> None:
    quote = {
        "member_id": None,
        "basket": {"currency": "EUR", "lines": [{"sku": "S", "quantity": 1, "unit_price": 9.99}]},
    }
    with httpx.Client(base_url=fake_platform.url, headers=AUTH) as http:
        http.post("/v1/quotes", json=quote)  # money as a JSON number

    assert any("unit_price" in problem for problem in fake_platform.violations)
    fake_platform.violations.clear()

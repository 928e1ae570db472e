"""Rewards and coupons over the membership API (R4), referral at signup (R5), driven by
real-shaped signed events against in-memory fakes."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from types import ModuleType
from typing import Any

import pytest

from loyalty_bridge import wiring
from loyalty_bridge.models.domain import PlatformOrder, PlatformOrderLine
from loyalty_bridge.services.rewards import RewardsService
from loyalty_bridge.services.summary import SummaryService
from loyalty_bridge.signing import StaticSigningKeys
from tests.fake_core import InMemoryIdempotencyStore
from tests.lambda_harness import FakeLambdaContext, load_function, signed_http_event
from tests.unit.membership.conftest import World, make_world

KEY_ID, SECRET = "storefront-1", "not-a-real-secret"
PROGRAM = {
    "rewards": [
        {"reward_id": "five-off", "name": "5 off", "points": 500, "kind": "fixed_discount", "value": "5.00"},
        {"reward_id": "mug", "name": "Coffee mug", "points": 1500, "kind": "product", "value": "MUG-1"},
    ],
    "required_profile_fields": ["last_name"],
    "referral_bonus_points": 250,
}


@pytest.fixture
def world() -> World:
    return make_world(earn_rules_json=json.dumps(PROGRAM))


@pytest.fixture
def api(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    wiring.reset()
    module = load_function("membership_api")
    monkeypatch.setattr(module.app, "signing_keys", StaticSigningKeys({KEY_ID: (SECRET, "storefront")}))
    monkeypatch.setattr(module.app, "idempotency_store", InMemoryIdempotencyStore())
    summary = SummaryService(world.customers, world.platform, world.settings, rewards=world.platform)
    monkeypatch.setattr(
        module,
        "services",
        module.Services(
            signup=world.signup,
            summary=summary,
            attach=world.attach,
            phone=world.phone,
            rewards=RewardsService(world.customers, world.platform),
        ),
    )
    yield module
    wiring.reset()


_keys = itertools.count(1)


def call(
    api: ModuleType, method: str, path: str, body: Any = None, *, key: str | None = None
) -> tuple[int, Any]:
    if method == "POST" and key is None:
        key = f"k-{next(_keys)}"
    event = signed_http_event(method, path, key_id=KEY_ID, secret=SECRET, body=body, idempotency_key=key)
    result = api.lambda_handler(event, FakeLambdaContext())
    return int(result["statusCode"]), json.loads(result.get("body") or "null")


def member_with_points(world: World, customer_id: str, points: int, **fields: Any) -> str:
    world.sign_up(customer_id, **{"email": f"{customer_id}@example.com", **fields})
    world.run_worker()
    record = world.customers.get(customer_id)
    assert record is not None
    assert record.member_id
    if points:
        credit(world, record.member_id, points, f"seed-{customer_id}")
    return record.member_id


def credit(world: World, member_id: str, points: int, order_id: str) -> None:
    line = PlatformOrderLine(product_code="A", title="A", quantity=1, unit_price=Decimal(points), sku="A")
    order = PlatformOrder(
        order_id=order_id, placed_at=world.clock(), currency="EUR", lines=[line], total=Decimal(points)
    )
    world.platform.post_order(member_id, order)


REDEEM = "/v1/customers/c-1/loyalty/rewards/five-off/redeem"


def test_redeeming_a_reward_answers_201_with_a_coupon_and_lists_it(api: ModuleType, world: World) -> None:
    member_with_points(world, "c-1", 1200)

    status, coupon = call(api, "POST", REDEEM, key="redeem-1")
    again_status, again = call(api, "POST", REDEEM, key="redeem-1")  # a storefront retry

    assert status == 201
    assert again_status == 201
    assert again == coupon
    assert set(coupon) == {"code", "reward_id", "name", "kind", "value", "points", "issued_at", "status"}
    assert (coupon["reward_id"], coupon["kind"], coupon["value"], coupon["points"], coupon["status"]) == (
        "five-off",
        "fixed_discount",
        "5.00",
        500,
        "available",
    )
    assert re.fullmatch(r"LB(-[0-9A-Z]{4}){4}", coupon["code"])
    status, listed = call(api, "GET", "/v1/customers/c-1/loyalty/coupons")
    assert (status, listed) == (200, {"coupons": [coupon]})
    _, summary = call(api, "GET", "/v1/customers/c-1/loyalty")
    assert summary["points"]["balance"] == 700
    assert summary["next_reward"] == {
        "name": "Coffee mug",
        "points_required": 1500,
        "points_needed": 800,
        "progress": 0.46,
    }


def test_refusals_are_problems_with_clear_codes(api: ModuleType, world: World) -> None:
    member_with_points(world, "c-1", 100)
    member_with_points(world, "c-2", 900, last_name="")  # last name required: accumulate-only
    world.sign_up("c-3", join=False)

    cases = {
        REDEEM: (409, "insufficient_points"),
        "/v1/customers/c-1/loyalty/rewards/nope/redeem": (404, "reward_not_found"),
        "/v1/customers/c-2/loyalty/rewards/five-off/redeem": (422, "profile_incomplete"),
        "/v1/customers/c-3/loyalty/rewards/five-off/redeem": (422, "not_joined"),
        "/v1/customers/nobody/loyalty/rewards/five-off/redeem": (404, "customer_not_found"),
        "/v1/customers/c-1/loyalty/rewards/bad%20id/redeem": (422, "validation_failed"),
    }
    for path, (expected_status, code) in cases.items():
        status, problem = call(api, "POST", path)
        assert (status, problem["code"]) == (expected_status, code), path
    status, listed = call(api, "GET", "/v1/customers/c-3/loyalty/coupons")
    assert (status, listed) == (200, {"coupons": []})
    _, summary = call(api, "GET", "/v1/customers/c-2/loyalty")
    assert (summary["accumulate_only"], summary["points"]["redeemable"]) == (True, 0)


def test_a_referred_signup_credits_the_referrer_once_its_first_order_is_credited(
    api: ModuleType, world: World
) -> None:
    member_with_points(world, "c-1", 0)
    _, ann = call(api, "GET", "/v1/customers/c-1/loyalty")
    code = ann["referral"]["code"]
    body = {
        "customer_id": "c-2",
        "email": "bob@example.com",
        "first_name": "Bob",
        "last_name": "Lee",
        "referral_code": code.lower(),
    }

    status, _ = call(api, "POST", "/v1/customers", body)
    world.run_worker()
    bob = world.customers.get("c-2")
    assert status == 202
    assert bob is not None
    assert bob.member_id
    credit(world, bob.member_id, 10, "o-1")
    credit(world, bob.member_id, 10, "o-2")

    _, ann = call(api, "GET", "/v1/customers/c-1/loyalty")
    assert ann["points"]["balance"] == 250
    _, problem = call(
        api, "POST", "/v1/customers", {**body, "customer_id": "c-3", "referral_code": "no way!"}
    )
    assert problem["code"] == "validation_failed"

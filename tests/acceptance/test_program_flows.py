"""Program rules over the local stack (R2-R5, A9), as a storefront would see them: the login
summary's tier, next expiry, progress to the next reward and referral link; a reward
redeemed for a coupon; a referred signup crediting the referrer after its first order."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from bridge_local.client import SignedClient
from bridge_local.stack import LocalStackProcess
from tests.acceptance.test_checkout_flows import give_points, join, line, order_body, quote, tag, wait_for
from tests.conftest import Mailbox

PROGRAM = {
    "tiers": [{"name": "Silver", "min_spend": 0}, {"name": "Gold", "min_spend": 5000}],
    "expiry_months": 12,
    "rewards": [
        {
            "reward_id": "ship",
            "name": "Free shipping",
            "points": 1500,
            "kind": "fixed_discount",
            "value": "4.95",
        },
        {"reward_id": "mug", "name": "Coffee mug", "points": 3000, "kind": "product", "value": "MUG-1"},
    ],
    "referral_bonus_points": 300,
}


@pytest.fixture(scope="module")
def stack(local_stack_factory: Callable[..., LocalStackProcess]) -> LocalStackProcess:
    return local_stack_factory(
        params={
            "EarnRulesJson": json.dumps(PROGRAM),
            "ReferralBaseUrl": "https://shop.example.com/join?ref={code}",
        }
    )


def summary(client: SignedClient, customer_id: str) -> dict[str, Any]:
    answer = client.get(f"/v1/customers/{customer_id}/loyalty")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_summary_redeem_a_reward_and_list_coupons(
    stack: LocalStackProcess, client: SignedClient, new_customer: Callable[..., dict[str, Any]]
) -> None:
    customer_id = join(client, stack, new_customer)
    give_points(client, customer_id, 2000)

    before = summary(client, customer_id)
    assert before["tier"] == {"name": "Silver", "next": "Gold", "spend_to_next": "3000.00"}
    assert before["points"]["next_expiry"]["points"] == 2000
    assert before["next_reward"] == {
        "name": "Coffee mug",
        "points_required": 3000,
        "points_needed": 1000,
        "progress": 0.66,
    }
    code = before["referral"]["code"]
    assert before["referral"]["link"] == f"https://shop.example.com/join?ref={code}"

    redeemed = client.post(f"/v1/customers/{customer_id}/loyalty/rewards/ship/redeem")
    assert redeemed.status_code == 201, redeemed.text
    coupon = redeemed.json()
    assert (coupon["reward_id"], coupon["points"], coupon["status"]) == ("ship", 1500, "available")
    listed = client.get(f"/v1/customers/{customer_id}/loyalty/coupons")
    assert (listed.status_code, listed.json()) == (200, {"coupons": [coupon]})
    assert summary(client, customer_id)["points"]["balance"] == 500

    refused = client.post(f"/v1/customers/{customer_id}/loyalty/rewards/mug/redeem")
    assert (refused.status_code, refused.json()["code"]) == (409, "insufficient_points")
    unknown = client.post(f"/v1/customers/{customer_id}/loyalty/rewards/nope/redeem")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "reward_not_found")


def test_a_referred_customer_first_order_credits_the_referrer(
    stack: LocalStackProcess, client: SignedClient, new_customer: Callable[..., dict[str, Any]]
) -> None:
    referrer = join(client, stack, new_customer)
    code = summary(client, referrer)["referral"]["code"]
    body = new_customer(referral_code=code)
    assert client.post("/v1/customers", json=body).status_code == 202
    referred = body["customer_id"]
    stack.wait_until_drained()
    wait_for(lambda: True if summary(client, referred)["status"] == "joined" else None, "referred joined")

    for _ in range(2):
        placed = client.post("/v1/orders", json=order_body(f"o-{tag()}", referred, [line("A", "10.00")]))
        assert placed.status_code == 200, placed.text

    assert summary(client, referrer)["points"]["balance"] == 300
    assert summary(client, referred)["points"]["balance"] == 20


def _new_order_errors(admin: SignedClient) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = admin.get(f"/v1/admin/errors?category=new_order&limit=100{cursor}")
        assert page.status_code == 200, page.text
        found.extend(page.json()["errors"])
        if not page.json().get("next_cursor"):
            return found
        cursor = f"&cursor={page.json()['next_cursor']}"


def test_a_coupon_used_twice_completes_with_no_points_and_one_new_order_error(
    stack: LocalStackProcess,
    client: SignedClient,
    client_for: Callable[[LocalStackProcess, str], SignedClient],
    mailbox_for: Callable[[LocalStackProcess], Mailbox],
    new_customer: Callable[..., dict[str, Any]],
) -> None:
    customer_id = join(client, stack, new_customer)
    other = join(client, stack, new_customer)
    give_points(client, customer_id, 1600)
    redeemed = client.post(f"/v1/customers/{customer_id}/loyalty/rewards/ship/redeem")
    assert redeemed.status_code == 201, redeemed.text
    code = redeemed.json()["code"]
    basket = [line("A", "20.00")]

    shown = quote(client, customer_id, basket, promo_code=code.lower())
    assert shown["coupon"] == {
        "code": code,
        "status": "available",
        "reward": "ship",
        "kind": "fixed_discount",
        "value": "4.95",
    }
    assert shown["points_to_earn"] == 0  # a coupon is a promo code (C3)
    assert quote(client, other, basket, promo_code=code)["coupon"]["status"] == "not_yours"
    assert "coupon" not in quote(client, customer_id, basket, promo_code="SUMMER10")

    used = client.post("/v1/orders", json=order_body(f"o-{tag()}", customer_id, basket, promo_code=code))
    assert (used.status_code, used.json()["status"], used.json()["points_earned"]) == (200, "credited", 0)
    assert quote(client, customer_id, basket, promo_code=code)["coupon"]["status"] == "used"

    # The same coupon again: the sale stands, earns nothing, and the admins hear of it once.
    twice = order_body(f"o-{tag()}", customer_id, basket, promo_code=code)
    for _ in range(2):  # the storefront's retry
        again = client.post("/v1/orders", json=twice)
        assert (again.status_code, again.json()["status"], again.json()["points_earned"]) == (
            200,
            "credited",
            0,
        )

    with client_for(stack, "admin") as admin:
        found = [e for e in _new_order_errors(admin) if e["subject_id"] == f"order {twice['order_id']}"]
    assert len(found) == 1
    assert found[0]["error_id"] == f"new_order:{twice['order_id']}:coupon"
    assert "coupon used twice" in found[0]["platform_answer"]
    assert (found[0]["status"], found[0]["replayable"]) == ("open", False)
    mailbox = mailbox_for(stack)
    mail = mailbox.wait_for(subject=customer_id)
    assert "New Order Errors" in str(mail["subject"])
    assert "coupon used twice" in Mailbox.text(mail)
    assert len(mailbox.messages(subject=customer_id)) == 1

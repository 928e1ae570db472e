"""Checkout and orders (issue 6, C1-C6) over the local stack, as a storefront would drive it.

Points come from real flows: sign a customer up (POST /v1/customers, wait until joined)
and post an order. Default program: 1 point per whole currency unit of merchandise,
point value 0.01, at most half of an order payable with points, holds of 30 minutes.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bridge_local.client import SignedClient
from bridge_local.stack import LocalStackProcess

WAIT_SECONDS = 30.0


def tag() -> str:
    return uuid.uuid4().hex[:10]


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def wait_for[T](probe: Callable[[], T | None], what: str, timeout: float = WAIT_SECONDS) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(0.2)


def join(client: SignedClient, stack: LocalStackProcess, new_customer: Callable[..., dict[str, Any]]) -> str:
    body = new_customer()
    created = client.post("/v1/customers", json=body)
    assert created.status_code == 202, created.text
    customer_id: str = body["customer_id"]
    stack.wait_until_drained()

    def joined() -> bool | None:
        summary = client.get(f"/v1/customers/{customer_id}/loyalty")
        return True if summary.status_code == 200 and summary.json()["status"] == "joined" else None

    wait_for(joined, f"customer {customer_id} joined")
    return customer_id


def line(
    sku: str, price: str, quantity: int = 1, title: str = "Thing", categories: Any = None
) -> dict[str, Any]:
    return {
        "sku": sku,
        "title": title,
        "quantity": quantity,
        "unit_price": price,
        "categories": categories or [],
    }


def order_body(
    order_id: str, customer_id: str | None, lines: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    from decimal import Decimal

    subtotal = sum((Decimal(ln["unit_price"]) * ln["quantity"] for ln in lines), Decimal(0))
    discount = Decimal(extra.pop("discount", "0"))
    shipping = Decimal(extra.pop("shipping", "0"))
    return {
        "order_id": order_id,
        "customer_id": customer_id,
        "placed_at": now_iso(),
        "currency": "EUR",
        "channel": "webshop",
        "lines": lines,
        "shipping": str(shipping),
        "total": str(subtotal + shipping - discount),
        **extra,
    }


def give_points(client: SignedClient, customer_id: str, points: int) -> None:
    answer = client.post(
        "/v1/orders", json=order_body(f"seed-{tag()}", customer_id, [line("SEED", f"{points}.00")])
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["points_earned"] == points


def quote(
    client: SignedClient, customer_id: str, lines: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    answer = client.post(
        "/v1/checkout/quote", json={"customer_id": customer_id, "currency": "EUR", "lines": lines, **extra}
    )
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def balance(client: SignedClient, customer_id: str) -> int:
    return int(quote(client, customer_id, [line("PROBE", "0.00")])["balance"])


BASKET = [
    line("SHIRT", "25.00", 2, "Shirt", ["Clothing", "Shirts"]),
    line("SOCKS", "5.00", 4, "Socks", ["Clothing"]),
]  # 70.00 of merchandise


# ---------------------------------------------------------------- C1, C3, C4


def test_a_quote_says_what_the_order_then_credits(
    local_stack: LocalStackProcess, signed_client: SignedClient, new_customer: Callable[..., dict[str, Any]]
) -> None:
    customer_id = join(signed_client, local_stack, new_customer)
    quoted = quote(signed_client, customer_id, BASKET, shipping="4.95")
    assert (quoted["points_to_earn"], quoted["balance"], quoted["joined"]) == (70, 0, True)
    posted = signed_client.post(
        "/v1/orders", json=order_body(f"o-{tag()}", customer_id, BASKET, shipping="4.95")
    )
    assert posted.status_code == 200, posted.text
    document = posted.json()
    assert (document["status"], document["points_earned"], document["balance"]) == ("credited", 70, 70)
    assert balance(signed_client, customer_id) == 70  # at once, not after a batch


def test_a_promo_code_earns_nothing(
    local_stack: LocalStackProcess, signed_client: SignedClient, new_customer: Callable[..., dict[str, Any]]
) -> None:
    customer_id = join(signed_client, local_stack, new_customer)
    assert quote(signed_client, customer_id, BASKET, promo_code="SUMMER10")["points_to_earn"] == 0
    posted = signed_client.post(
        "/v1/orders", json=order_body(f"o-{tag()}", customer_id, BASKET, promo_code="SUMMER10")
    )
    assert posted.status_code == 200, posted.text
    assert posted.json()["points_earned"] == 0
    assert balance(signed_client, customer_id) == 0


def test_guest_orders_are_accepted_without_points(signed_client: SignedClient) -> None:
    posted = signed_client.post("/v1/orders", json=order_body(f"o-{tag()}", None, BASKET))
    assert posted.status_code == 200, posted.text
    assert (posted.json()["status"], posted.json()["reason"], posted.json()["points_earned"]) == (
        "not_credited",
        "guest",
        0,
    )


# ---------------------------------------------------------------- C2


def test_redeem_some_then_redeem_all(
    local_stack: LocalStackProcess, signed_client: SignedClient, new_customer: Callable[..., dict[str, Any]]
) -> None:
    customer_id = join(signed_client, local_stack, new_customer)
    give_points(signed_client, customer_id, 1000)

    quoted = quote(signed_client, customer_id, BASKET, redeem_points=300)
    assert (quoted["redeemable_points"], quoted["discount"]) == (1000, "3.00")
    held = signed_client.post(
        "/v1/checkout/redemptions",
        json={"customer_id": customer_id, "cart_id": f"cart-{tag()}", "points": 300, "order_total": "70.00"},
    )
    assert held.status_code == 201, held.text
    hold = held.json()
    assert (hold["points"], hold["discount"]) == (300, "3.00")
    assert (
        quote(signed_client, customer_id, BASKET)["redeemable_points"] == 700
    )  # held points are not offered twice
    some = signed_client.post(
        "/v1/orders",
        json=order_body(
            f"o-{tag()}", customer_id, BASKET, discount="3.00", redemption_id=hold["redemption_id"]
        ),
    )
    assert some.status_code == 200, some.text
    assert (some.json()["points_redeemed"], some.json()["points_earned"], some.json()["balance"]) == (
        300,
        67,
        767,
    )

    big = [line("SOFA", "2000.00")]
    everything = quote(signed_client, customer_id, big, redeem_points=767)
    assert (everything["redeemable_points"], everything["discount"]) == (767, "7.67")
    held_all = signed_client.post(
        "/v1/checkout/redemptions",
        json={
            "customer_id": customer_id,
            "cart_id": f"cart-{tag()}",
            "points": 767,
            "order_total": "2000.00",
        },
    )
    assert held_all.status_code == 201, held_all.text
    spent = signed_client.post(
        "/v1/orders",
        json=order_body(
            f"o-{tag()}", customer_id, big, discount="7.67", redemption_id=held_all.json()["redemption_id"]
        ),
    )
    assert spent.status_code == 200, spent.text
    assert (spent.json()["points_redeemed"], spent.json()["points_earned"], spent.json()["balance"]) == (
        767,
        1992,
        1992,
    )


def test_an_expired_hold_gives_the_points_back(
    local_stack: LocalStackProcess, signed_client: SignedClient, new_customer: Callable[..., dict[str, Any]]
) -> None:
    customer_id = join(signed_client, local_stack, new_customer)
    give_points(signed_client, customer_id, 400)
    held = signed_client.post(
        "/v1/checkout/redemptions",
        json={
            "customer_id": customer_id,
            "cart_id": f"cart-{tag()}",
            "points": 400,
            "order_total": "1000.00",
        },
    )
    assert held.status_code == 201, held.text
    assert quote(signed_client, customer_id, [line("X", "1000.00")])["redeemable_points"] == 0

    # The sweeper takes "now" from its scheduled event: send it the moment after expiry.
    expires_at = datetime.fromisoformat(held.json()["expires_at"])
    event = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "region": "us-east-1",
        "resources": [],
        "detail": {},
        "time": (expires_at + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    swept = local_stack.invoke("HoldSweeperFunction", event)
    assert swept["released"] >= 1, swept
    assert quote(signed_client, customer_id, [line("X", "1000.00")])["redeemable_points"] == 400
    assert signed_client.delete(f"/v1/checkout/redemptions/{held.json()['redemption_id']}").status_code == 204


def test_two_carts_racing_for_the_same_points_one_wins(
    local_stack: LocalStackProcess, signed_client: SignedClient, new_customer: Callable[..., dict[str, Any]]
) -> None:
    customer_id = join(signed_client, local_stack, new_customer)
    give_points(signed_client, customer_id, 500)
    answers: list[Any] = []
    start = threading.Barrier(2)

    def redeem(cart: str) -> None:
        with SignedClient(
            signed_client.base_url, key_id=signed_client.key_id, secret=signed_client.secret, timeout=60
        ) as client:
            start.wait()
            answers.append(
                client.post(
                    "/v1/checkout/redemptions",
                    json={
                        "customer_id": customer_id,
                        "cart_id": cart,
                        "points": 500,
                        "order_total": "1000.00",
                    },
                )
            )

    threads = [threading.Thread(target=redeem, args=(f"cart-{tag()}",)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(a.status_code for a in answers) == [201, 409], [a.text for a in answers]
    lost = next(a for a in answers if a.status_code == 409)
    assert lost.headers["content-type"].startswith("application/problem+json")
    assert lost.json()["code"] == "insufficient_points"
    assert balance(signed_client, customer_id) == 500  # held, never spent twice


# ---------------------------------------------------------------- C6


def test_the_same_order_posted_five_times_credits_once(
    local_stack: LocalStackProcess, signed_client: SignedClient, new_customer: Callable[..., dict[str, Any]]
) -> None:
    customer_id = join(signed_client, local_stack, new_customer)
    body = order_body(f"o-{tag()}", customer_id, BASKET)
    key = f"same-key-{tag()}"
    first = signed_client.post("/v1/orders", json=body, idempotency_key=key)
    assert first.status_code == 200, first.text
    again = signed_client.post("/v1/orders", json=body, idempotency_key=key)
    new_keys = [signed_client.post("/v1/orders", json=body) for _ in range(2)]
    # A queue redelivery of the same order (as SQS may do): the worker settles it again.
    queues = local_stack.status()["queues"]
    sqs = local_stack.client("sqs")
    envelope = {
        "v": 1,
        "kind": "order.post",
        "message_id": f"order.post:{body['order_id']}",
        "customer_id": customer_id,
        "payload": {
            "order": {
                **{k: body[k] for k in ("order_id", "placed_at", "currency", "channel", "shipping", "total")},
                "lines": [
                    {
                        "product_code": ln["sku"],
                        "title": ln["title"],
                        "quantity": ln["quantity"],
                        "unit_price": ln["unit_price"],
                        "sku": ln["sku"],
                    }
                    for ln in BASKET
                ],
            },
            "member_id": None,
        },
    }
    sqs.send_message(QueueUrl=queues["OrderQueue"]["url"], MessageBody=json.dumps(envelope))
    local_stack.wait_until_drained()
    for answer in [again, *new_keys]:
        assert answer.status_code == 200, answer.text
        assert answer.json() == first.json()
    assert first.json()["points_earned"] == 70
    assert balance(signed_client, customer_id) == 70


# ---------------------------------------------------------------- C5


def test_partial_refund_then_cancel(
    local_stack: LocalStackProcess, signed_client: SignedClient, new_customer: Callable[..., dict[str, Any]]
) -> None:
    customer_id = join(signed_client, local_stack, new_customer)
    give_points(signed_client, customer_id, 200)
    held = signed_client.post(
        "/v1/checkout/redemptions",
        json={"customer_id": customer_id, "cart_id": f"cart-{tag()}", "points": 200, "order_total": "70.00"},
    ).json()
    order_id = f"o-{tag()}"
    posted = signed_client.post(
        "/v1/orders",
        json=order_body(order_id, customer_id, BASKET, discount="2.00", redemption_id=held["redemption_id"]),
    )
    assert posted.json()["balance"] == 68  # 200 - 200 + 68

    refund = {"refund_id": f"r-{tag()}", "lines": [{"sku": "SOCKS", "quantity": 2}]}
    first = signed_client.post(f"/v1/orders/{order_id}/refunds", json=refund)
    assert first.status_code == 200, first.text
    assert (first.json()["status"], first.json()["shortfall"]) == ("reversed", 0)
    assert 0 < first.json()["points_reversed"] < 68
    repeat = signed_client.post(f"/v1/orders/{order_id}/refunds", json=refund)  # a retry with a new key
    assert repeat.json() == first.json()

    cancelled = signed_client.post(f"/v1/orders/{order_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    document = cancelled.json()
    assert first.json()["points_reversed"] + document["points_reversed"] == 68  # never more than earned
    assert (document["points_returned"], document["balance"]) == (200, 200)

    wrong = signed_client.post(
        f"/v1/orders/{order_id}/refunds", json={"refund_id": "r-x", "lines": [{"sku": "NOPE", "quantity": 1}]}
    )
    assert wrong.status_code == 422
    assert signed_client.post(f"/v1/orders/o-missing-{tag()}/cancel").status_code == 404


def test_bad_money_is_a_clear_422(signed_client: SignedClient) -> None:
    body = order_body(f"o-{tag()}", None, BASKET)
    body["total"] = 70.0
    answer = signed_client.post("/v1/orders", json=body)
    assert answer.status_code == 422
    assert answer.json()["code"] == "validation_failed"


@pytest.mark.parametrize("path", ["/v1/checkout/quote", "/v1/orders"])
def test_unknown_customers_are_404(signed_client: SignedClient, path: str) -> None:
    body = (
        order_body(f"o-{tag()}", f"ghost-{tag()}", BASKET)
        if path == "/v1/orders"
        else {"customer_id": f"ghost-{tag()}", "currency": "EUR", "lines": BASKET}
    )
    answer = signed_client.post(path, json=body)
    assert answer.status_code == 404, answer.text
    assert answer.json()["code"] == "customer_not_found"

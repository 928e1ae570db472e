"""Stores and staff (issue 12 part 3, R6) over the local stack: the admin registers points
of sale and staff users; then an order or quote at an unknown store, or by a staff user of
another store, is refused 422 and changes nothing (balance, order records)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bridge_local.client import SignedClient
from bridge_local.stack import LocalStackProcess
from tests.acceptance.test_checkout_flows import give_points, join, line, order_body, tag
from tests.acceptance.test_loyalty_profile import PROGRAM_PARAMS


@pytest.fixture(scope="module")
def stack(local_stack_factory: Callable[..., LocalStackProcess]) -> LocalStackProcess:
    # Its own stack: once a store is registered every order naming a store is checked.
    return local_stack_factory(params=PROGRAM_PARAMS)


def put(admin: SignedClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = admin.put(path, json=body)
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def balance(shop: SignedClient, customer_id: str) -> int:
    return int(shop.get(f"/v1/customers/{customer_id}/loyalty").json()["points"]["balance"])


def test_orders_at_unknown_stores_or_by_staff_of_another_store_are_refused_and_change_nothing(
    stack: LocalStackProcess,
    shop: SignedClient,
    admin: SignedClient,
    new_customer: Callable[..., dict[str, Any]],
) -> None:
    north, south = f"N-{tag()}", f"S-{tag()}"
    cashier = f"cashier-{tag()}"
    put(admin, f"/v1/admin/stores/{north}", {"name": "North", "channel": "store"})
    put(admin, f"/v1/admin/stores/{south}", {"name": "South", "channel": "store"})
    staff = put(admin, f"/v1/admin/staff/{cashier}", {"name": "Cat", "store_id": north, "role": "cashier"})
    assert (staff["store_id"], staff["role"]) == (north, "cashier")
    listed = admin.get("/v1/admin/stores?limit=100").json()
    assert {north, south} <= {s["store_id"] for s in listed["stores"]}
    unknown_store_staff = admin.put(
        f"/v1/admin/staff/x-{tag()}", json={"name": "X", "store_id": f"nowhere-{tag()}", "role": "manager"}
    )
    assert (unknown_store_staff.status_code, unknown_store_staff.json()["code"]) == (422, "unknown_store")

    customer_id = join(shop, stack, new_customer)
    give_points(shop, customer_id, 100)
    refusals = [
        ({"channel": "store", "store_id": f"nowhere-{tag()}"}, "unknown_store"),
        ({"channel": "store", "store_id": south, "staff_id": cashier}, "unknown_staff"),
        ({"channel": "store", "store_id": north, "staff_id": f"ghost-{tag()}"}, "unknown_staff"),
    ]
    for extra, code in refusals:
        order_id = f"o-{tag()}"
        answer = shop.post(
            "/v1/orders", json=order_body(order_id, customer_id, [line("A", "40.00")], **extra)
        )
        assert (answer.status_code, answer.json()["code"]) == (422, code), answer.text
        # Nothing was stored: a refund of it finds no order, and the balance did not move.
        refund = shop.post(
            f"/v1/orders/{order_id}/refunds",
            json={"refund_id": "r-1", "lines": [{"sku": "A", "quantity": 1}]},
        )
        assert refund.status_code == 404, refund.text
        assert balance(shop, customer_id) == 100
        quoted = shop.post(
            "/v1/checkout/quote",
            json={"customer_id": customer_id, "currency": "EUR", "lines": [line("A", "40.00")], **extra},
        )
        assert (quoted.status_code, quoted.json()["code"]) == (422, code)

    stack.wait_until_drained()
    assert balance(shop, customer_id) == 100
    at_north = order_body(f"o-{tag()}", customer_id, [line("A", "40.00")], channel="store", store_id=north)
    at_north["staff_id"] = cashier
    credited = shop.post("/v1/orders", json=at_north)
    assert credited.status_code == 200, credited.text
    assert credited.json()["balance"] == 140
    webshop = shop.post("/v1/orders", json=order_body(f"o-{tag()}", customer_id, [line("A", "10.00")]))
    assert webshop.status_code == 200, webshop.text  # no store named: not checked

"""Adjustments (R7), the customer's history (R8) and the daily statistics (R6) over the
local stack (issue 12 parts 4, 5, 7), as an admin and a storefront would: +50, -30, then
-1,000 refused with the balance unchanged; the history shows each with its staff user and
store; a replayed adjustment changes nothing; a store's stats are the sum of its entries;
a history of 250 entries pages through every entry exactly once."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from bridge_local.client import SignedClient
from bridge_local.stack import LocalStackProcess
from tests.acceptance.test_checkout_flows import join, line, order_body, tag
from tests.acceptance.test_loyalty_profile import PROGRAM_PARAMS


@pytest.fixture(scope="module")
def stack(local_stack_factory: Callable[..., LocalStackProcess]) -> LocalStackProcess:
    return local_stack_factory(params=PROGRAM_PARAMS)  # shared with the stores and profile tests


def register(admin: SignedClient, store_id: str, staff_id: str) -> None:
    assert (
        admin.put(f"/v1/admin/stores/{store_id}", json={"name": store_id, "channel": "store"}).status_code
        == 200
    )
    staff = {"name": "Cat", "store_id": store_id, "role": "cashier"}
    assert admin.put(f"/v1/admin/staff/{staff_id}", json=staff).status_code == 200


def adjust(admin: SignedClient, customer_id: str, body: dict[str, Any]) -> Any:
    return admin.post(f"/v1/admin/customers/{customer_id}/adjustments", json=body)


def points(shop: SignedClient, customer_id: str) -> int:
    return int(shop.get(f"/v1/customers/{customer_id}/loyalty").json()["points"]["balance"])


def history(shop: SignedClient, customer_id: str, limit: int = 100) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = f"limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        answer = shop.get(f"/v1/customers/{customer_id}/loyalty/activity?{query}")
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert len(page["entries"]) <= limit
        found.extend(page["entries"])
        cursor = page["next_cursor"]
        if cursor is None:
            return found


def test_credit_debit_refusal_replay_and_the_history_with_staff_and_store(
    stack: LocalStackProcess,
    shop: SignedClient,
    admin: SignedClient,
    new_customer: Callable[..., dict[str, Any]],
) -> None:
    store, cashier = f"N-{tag()}", f"cashier-{tag()}"
    register(admin, store, cashier)
    customer_id = join(shop, stack, new_customer)
    who = {"staff_id": cashier, "store_id": store}

    credit = adjust(admin, customer_id, {"adjustment_id": "adj-1", "points": 50, "reason": "goodwill", **who})
    assert credit.status_code == 201, credit.text
    assert credit.json() == {"adjustment_id": "adj-1", "points": 50, "balance": 50}
    debit = adjust(
        admin, customer_id, {"adjustment_id": "adj-2", "points": -30, "reason": "correction", **who}
    )
    assert (debit.status_code, debit.json()["balance"]) == (201, 20)
    too_much = adjust(
        admin, customer_id, {"adjustment_id": "adj-3", "points": -1000, "reason": "typo", **who}
    )
    assert (too_much.status_code, too_much.json()["code"]) == (409, "insufficient_points")
    assert points(shop, customer_id) == 20

    # A replay (a new Idempotency-Key, the same adjustment id) changes nothing.
    again = adjust(admin, customer_id, {"adjustment_id": "adj-1", "points": 50, "reason": "goodwill", **who})
    assert (again.status_code, again.json()) == (201, credit.json())
    assert points(shop, customer_id) == 20

    refused = [
        ({"adjustment_id": "adj-4", "points": 0, "reason": "nothing"}, 422, "validation_failed"),
        (
            {"adjustment_id": "adj-5", "points": 5, "reason": "x", "store_id": f"nowhere-{tag()}"},
            422,
            "unknown_store",
        ),
        (
            {
                "adjustment_id": "adj-6",
                "points": 5,
                "reason": "x",
                "store_id": store,
                "staff_id": f"g-{tag()}",
            },
            422,
            "unknown_staff",
        ),
    ]
    for body, status, code in refused:
        answer = adjust(admin, customer_id, body)
        assert (answer.status_code, answer.json()["code"]) == (status, code), answer.text
    unknown = adjust(admin, f"nobody-{tag()}", {"adjustment_id": "adj-7", "points": 5, "reason": "x"})
    assert (unknown.status_code, unknown.json()["code"]) == (404, "customer_not_found")
    storefront_key = shop.post(
        f"/v1/admin/customers/{customer_id}/adjustments",
        json={"adjustment_id": "a", "points": 1, "reason": "x"},
    )
    assert storefront_key.status_code == 403
    assert points(shop, customer_id) == 20

    entries = history(shop, customer_id)
    assert [(e["kind"], e["points"], e["balance_after"]) for e in entries] == [
        ("adjusted", -30, 20),
        ("adjusted", 50, 50),
    ]
    assert all((e["staff_id"], e["store_id"]) == (cashier, store) for e in entries)
    assert [e["description"] for e in entries] == [
        "30 points deducted by the store",
        "50 points added by the store",
    ]
    bad = shop.get(f"/v1/customers/{customer_id}/loyalty/activity?cursor=not-a-cursor")
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_cursor")


def test_a_stores_stats_are_the_sum_of_its_entries(
    stack: LocalStackProcess,
    shop: SignedClient,
    admin: SignedClient,
    new_customer: Callable[..., dict[str, Any]],
) -> None:
    north, south, cashier = f"N-{tag()}", f"S-{tag()}", f"cashier-{tag()}"
    register(admin, north, cashier)
    register(admin, south, f"other-{tag()}")
    today = datetime.now(UTC).date().isoformat()
    before = admin.get(f"/v1/admin/stats?from={today}&to={today}").json()["totals"]
    customer_id = join(shop, stack, new_customer)

    def order(store: str, price: str) -> str:
        order_id = f"o-{tag()}"
        body = order_body(
            order_id, customer_id, [line("A", price), line("B", "10.00")], channel="store", store_id=store
        )
        answer = shop.post("/v1/orders", json=body)
        assert answer.status_code == 200, answer.text
        return order_id

    first = order(north, "40.00")
    order(north, "5.00")
    order(south, "25.00")
    refund = shop.post(
        f"/v1/orders/{first}/refunds", json={"refund_id": "r-1", "lines": [{"sku": "A", "quantity": 1}]}
    )
    assert refund.status_code == 200, refund.text
    assert (
        adjust(
            admin, customer_id, {"adjustment_id": f"a-{tag()}", "points": 7, "reason": "x", "store_id": north}
        ).status_code
        == 201
    )
    assert (
        adjust(
            admin,
            customer_id,
            {"adjustment_id": f"a-{tag()}", "points": -3, "reason": "x", "store_id": south},
        ).status_code
        == 201
    )

    entries = history(shop, customer_id)
    for store in (north, south):
        answer = admin.get(f"/v1/admin/stores/{store}/stats?from={today}&to={today}")
        assert answer.status_code == 200, answer.text
        [day] = answer.json()["days"]
        mine = [e for e in entries if e["store_id"] == store]
        assert day["day"] == today
        assert day["orders"] == sum(1 for e in mine if e["order_id"] and e["kind"] == "earned")
        assert day["points_earned"] == sum(e["points_in"] for e in mine if e["kind"] == "earned")
        assert day["points_reversed"] == sum(e["points_out"] for e in mine if e["kind"] == "reversed")
        assert day["points_adjusted"] == sum(e["points"] for e in mine if e["kind"] == "adjusted")
    north_day = admin.get(f"/v1/admin/stores/{north}/stats?from={today}&to={today}").json()["days"][0]
    assert (north_day["orders"], north_day["points_earned"], north_day["points_reversed"]) == (2, 65, 40)
    after = admin.get(f"/v1/admin/stats?from={today}&to={today}").json()["totals"]
    assert after["orders"] - before["orders"] >= 3  # other tests may write on this stack meanwhile
    assert after["new_members"] - before["new_members"] >= 1
    for query, code in (
        (f"from={today}&to=2000-01-01", "invalid_range"),
        ("from=2024-01-01&to=2025-12-31", "invalid_range"),
    ):
        answer = admin.get(f"/v1/admin/stats?{query}")
        assert (answer.status_code, answer.json()["code"]) == (422, code), answer.text


def test_a_history_of_250_entries_pages_through_every_entry_exactly_once(
    stack: LocalStackProcess,
    shop: SignedClient,
    admin: SignedClient,
    new_customer: Callable[..., dict[str, Any]],
) -> None:
    customer_id = join(shop, stack, new_customer)

    def credit(i: int) -> None:
        body = {"adjustment_id": f"bulk-{customer_id}-{i}", "points": 1, "reason": "bulk"}
        answer = adjust(admin, customer_id, body)
        assert answer.status_code == 201, answer.text

    # A few at a time (one admin key, like a back office): concurrent changes of one balance
    # are serialised by the ledger's version check, each written once.
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(credit, range(250)))
    entries = history(shop, customer_id, limit=37)
    assert len(entries) == 250
    assert len({e["entry_id"] for e in entries}) == 250
    assert [e["balance_after"] for e in entries] == list(range(250, 0, -1))  # newest first
    assert points(shop, customer_id) == 250

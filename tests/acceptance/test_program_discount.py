"""A discount program (R9, seed 001) over the local stack started with one: the quote answers
the tier's percentage off and no points, the order records the spend (and moves the member
up a tier), the summary shows the tier and its discount, and the kind is fixed once a
member exists."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from bridge_local.client import SignedClient
from bridge_local.stack import LocalStackProcess
from tests.acceptance.test_checkout_flows import join, line, order_body, quote, tag

DISCOUNT = {
    "kind": "discount",
    "currency": "EUR",
    "tiers": [
        {"name": "Bronze", "min_spend": 0, "discount_percent": "5"},
        {"name": "Silver", "min_spend": 500, "discount_percent": "10"},
    ],
}


@pytest.fixture(scope="module")
def stack(local_stack_factory: Callable[..., LocalStackProcess]) -> LocalStackProcess:
    return local_stack_factory(params={"EarnRulesJson": json.dumps(DISCOUNT)})


def test_quote_order_and_summary_of_a_discount_program(
    stack: LocalStackProcess, client: SignedClient, new_customer: Callable[..., dict[str, Any]]
) -> None:
    customer_id = join(client, stack, new_customer)

    quoted = quote(client, customer_id, [line("SHIRT", "80.00")], redeem_points=100)

    assert (quoted["discount_percent"], quoted["discount"]) == ("5", "4.00")
    assert (quoted["points_to_earn"], quoted["redeemable_points"], quoted["redeem_points"]) == (0, 0, 0)
    body = order_body(f"d-{tag()}", customer_id, [line("SOFA", "600.00")], discount="30.00")
    placed = client.post("/v1/orders", json=body)
    assert placed.status_code == 200, placed.text
    assert (placed.json()["points_earned"], placed.json()["balance"]) == (0, 0)
    summary = client.get(f"/v1/customers/{customer_id}/loyalty").json()
    assert (summary["tier"]["name"], summary["tier"]["discount_percent"]) == ("Silver", "10")
    assert summary["points"]["balance"] == 0
    assert quote(client, customer_id, [line("SHIRT", "80.00")])["discount"] == "8.00"


def test_the_kind_is_fixed_once_a_member_exists(
    stack: LocalStackProcess,
    admin: SignedClient,
    client: SignedClient,
    new_customer: Callable[..., dict[str, Any]],
) -> None:
    join(client, stack, new_customer)

    refused = admin.put("/v1/admin/program", json={**DISCOUNT, "kind": "points"})

    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "program_kind_locked"

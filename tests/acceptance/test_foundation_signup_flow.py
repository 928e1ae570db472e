"""Foundation acceptance (issue 2): the first flow end to end through the local stack:
POST /v1/customers -> membership queue -> worker on the built-in ledger -> summary."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bridge_local.client import SignedClient
from bridge_local.stack import LocalStackProcess


def test_signup_with_auto_join_ends_joined_with_a_card(
    local_stack: LocalStackProcess, signed_client: SignedClient, new_customer: Callable[..., dict[str, Any]]
) -> None:
    body = new_customer()
    created = signed_client.post("/v1/customers", json=body)
    assert created.status_code == 202, created.text
    assert created.json()["customer_id"] == body["customer_id"]
    assert created.json()["loyalty"]["status"] in {"pending", "joined"}

    local_stack.wait_until_drained()

    summary = signed_client.get(f"/v1/customers/{body['customer_id']}/loyalty")
    assert summary.status_code == 200, summary.text
    document = summary.json()
    assert document["status"] == "joined"
    assert document["join_prompt"] is False
    assert document["card"]["number"]


def test_signup_with_auto_join_off_is_not_joined_and_prompted(
    local_stack_factory: Callable[..., LocalStackProcess],
    client_for: Callable[[LocalStackProcess, str], SignedClient],
    new_customer: Callable[..., dict[str, Any]],
) -> None:
    stack = local_stack_factory(params={"AutoJoin": "false"})
    body = new_customer()
    with client_for(stack, "storefront") as client:
        created = client.post("/v1/customers", json=body)
        assert created.status_code == 202, created.text
        stack.wait_until_drained()
        document = client.get(f"/v1/customers/{body['customer_id']}/loyalty").json()
    assert document["status"] == "not_joined"
    assert document["join_prompt"] is True
    assert "card" not in document or document["card"] is None

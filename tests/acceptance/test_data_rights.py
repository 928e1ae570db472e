"""The customer's data rights (issue 15, D1 export and D2 erasure) over the local stack with
the fake Mailchimp, as an admin would drive them: a customer with an order, a refund, an
attach attempt and a profile change is exported whole; erased, no table holds their email,
names, mobile, birthday or address, the ledger totals are what they were, the export and the
summary are 404, Mailchimp no longer has the member, a repeat answers the first erasure,
the admins are emailed, and a signup with the same email is a new customer."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from bridge_local.client import SignedClient
from bridge_local.stack import LocalStackProcess
from loyalty_bridge.program.card_numbers import luhn_check_digit
from tests.acceptance.test_checkout_flows import line, order_body, tag
from tests.acceptance.test_profile_sync import mailchimp, mailchimp_stack
from tests.conftest import Mailbox
from tests.fake_mailchimp import FakeMailchimp

__all__ = ["mailchimp", "mailchimp_stack"]  # fixtures, used by name


@pytest.fixture(scope="module")
def stack(mailchimp_stack: LocalStackProcess) -> LocalStackProcess:
    return mailchimp_stack  # the profile sync tests' stack: the fake Mailchimp wired in


def person() -> dict[str, Any]:
    """A customer whose every personal value is unique to this test run."""
    t = tag()
    return {
        "customer_id": f"c-{t}",
        "email": f"zelda.{t}@example.com",
        "first_name": f"Zelda{t[:6]}",
        "last_name": f"Quorn{t[:6]}",
        "mobile": f"+4477009{int(t[:5], 16) % 100000:05d}",
        "birthday": "1987-06-05",
        "address": {
            "line1": f"{t[:4]} Wisteria Lane",
            "city": f"Oxtown{t[:4]}",
            "postal_code": f"OX{t[:3]}",
            "country": "GB",
        },
        "consents": {"email": True, "sms": False},
    }


def scan_all(stack: LocalStackProcess) -> dict[str, list[dict[str, Any]]]:
    dynamodb = stack.client("dynamodb")
    found: dict[str, list[dict[str, Any]]] = {}
    for name, table in stack.status()["tables"].items():
        items: list[dict[str, Any]] = []
        for page in dynamodb.get_paginator("scan").paginate(TableName=table):
            items.extend(page["Items"])
        found[name] = items
    return found


def ledger_totals(stack: LocalStackProcess) -> tuple[int, int]:
    """(sum of every ledger entry's points, sum of every account's available + held)."""
    items = scan_all(stack)["LedgerTable"]
    entries = sum(int(item["delta"]["N"]) for item in items if item["sk"]["S"] == "ENTRY" and "delta" in item)
    accounts = sum(
        int(item["available"]["N"]) + int(item["held"]["N"]) for item in items if item["sk"]["S"] == "ACCOUNT"
    )
    return entries, accounts


def personal_strings(body: dict[str, Any], *later: str) -> list[str]:
    address = body["address"]
    return [
        body["email"],
        body["first_name"],
        body["last_name"],
        body["mobile"],
        body["birthday"],
        address["line1"],
        address["city"],
        address["postal_code"],
        *later,
    ]


def summary_of(shop: SignedClient, customer_id: str) -> dict[str, Any]:
    answer = shop.get(f"/v1/customers/{customer_id}/loyalty")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def joined(shop: SignedClient, stack: LocalStackProcess, body: dict[str, Any]) -> dict[str, Any]:
    created = shop.post("/v1/customers", json=body)
    assert created.status_code == 202, created.text
    stack.wait_until_drained()
    summary = summary_of(shop, body["customer_id"])
    assert summary["status"] == "joined", summary
    return summary


def build_history(shop: SignedClient, stack: LocalStackProcess, body: dict[str, Any]) -> dict[str, str]:
    """Signed up without joining, an attach attempt (a card nobody has), then joined: an order,
    a refund of one line, and a profile change."""
    customer_id = body["customer_id"]
    assert shop.post("/v1/customers", json=dict(body, join=False)).status_code == 202
    payload = "610000" + str(int(tag()[:8], 16) % 10**9).zfill(9)
    card = payload + luhn_check_digit(payload)
    attach = shop.post(
        f"/v1/customers/{customer_id}/loyalty/attach", json={"card_number": card, "email": body["email"]}
    )
    assert attach.status_code == 202, attach.text
    joining = shop.post(f"/v1/customers/{customer_id}/loyalty/join", json={})
    assert joining.status_code == 202, joining.text
    stack.wait_until_drained()
    assert summary_of(shop, customer_id)["status"] == "joined"
    order_id, refund_id = f"o-{tag()}", f"r-{tag()}"
    lines = [line("SKU-A", "40.00"), line("SKU-B", "10.00")]
    assert shop.post("/v1/orders", json=order_body(order_id, customer_id, lines)).status_code == 200
    refund = {"refund_id": refund_id, "lines": [{"sku": "SKU-B", "quantity": 1}]}
    assert shop.post(f"/v1/orders/{order_id}/refunds", json=refund).status_code == 200
    new_last = f"Marsh{tag()[:6]}"
    change = shop.patch(f"/v1/customers/{customer_id}", json={"last_name": new_last})
    assert change.status_code == 202, change.text
    consents = shop.put(f"/v1/customers/{customer_id}/consents", json={"email": True, "sms": True})
    assert consents.status_code == 202, consents.text
    stack.wait_until_drained()
    return {"order_id": order_id, "refund_id": refund_id, "card": card, "last_name": new_last}


def test_export_then_erase_leaves_no_personal_data_and_keeps_the_money_trail(
    stack: LocalStackProcess,
    shop: SignedClient,
    admin: SignedClient,
    mailchimp: FakeMailchimp,
    mailbox_for: Callable[[LocalStackProcess], Mailbox],
) -> None:
    body = person()
    customer_id = body["customer_id"]
    done = build_history(shop, stack, body)
    assert mailchimp.member(body["email"]) is not None

    exported = admin.get(f"/v1/admin/customers/{customer_id}/export")
    assert exported.status_code == 200, exported.text
    document = exported.json()
    assert document["web_record"]["last_name"] == done["last_name"]  # the profile change
    assert document["web_record"]["email"] == body["email"]
    notes = [(n["kind"], n["fields"], n["consents"]) for n in document["web_record"]["changes"]]
    assert notes == [
        ("profile.update", ["last_name"], None),
        ("consents.update", ["consent_email", "consent_sms"], {"email": True, "sms": True}),
    ]
    [order] = document["orders"]
    assert order["order_id"] == done["order_id"]
    assert [r["reversal_id"] for r in order["reversals"]] == [done["refund_id"]]
    kinds = {entry["kind"] for entry in document["loyalty"]["history"]}
    assert {"earned", "reversed"} <= kinds
    assert document["loyalty"]["balance"]["balance"] == 40
    # The attach attempt: its rate-limit window (the challenge itself went when they joined).
    [window] = [w for w in document["attempts"] if w["kind"] == "attach:customer"]
    assert window["count"] == 1
    assert all(v["purpose"] != "attach" or v["card_number"] == done["card"] for v in document["verification"])
    assert "code_hash" not in json.dumps(document)
    assert {s["target"] for s in document["sync_state"]} >= {"platform", "mailchimp"}

    before = ledger_totals(stack)
    request = {"erasure_id": f"e-{tag()}", "reason": "GDPR Art. 17 request by email"}
    erased = admin.post(f"/v1/admin/customers/{customer_id}/erase", json=request)
    assert erased.status_code == 200, erased.text
    record = erased.json()
    assert (record["customer_id"], record["status"], record["requested_by"]) == (
        customer_id,
        "erased",
        "local-admin",
    )
    assert {step["target"]: step["outcome"] for step in record["steps"]}["mailchimp"] == "done"
    assert record["by_hand"] == []

    personal = [value.lower() for value in personal_strings(body, done["last_name"])]
    for table, items in scan_all(stack).items():
        for item in items:
            text = json.dumps(item).lower()
            assert not [value for value in personal if value in text], (table, item)
    assert ledger_totals(stack) == before
    assert mailchimp.member(body["email"]) is None
    assert admin.get(f"/v1/admin/customers/{customer_id}/export").status_code == 404
    assert shop.get(f"/v1/customers/{customer_id}/loyalty").status_code == 404

    again = admin.post(f"/v1/admin/customers/{customer_id}/erase", json=request)
    assert (again.status_code, again.json()) == (200, record)
    mail = mailbox_for(stack).wait_for(subject=f"Customer data erased: {customer_id}")
    text = Mailbox.text(mail)
    assert request["erasure_id"] in text
    assert body["email"] not in text

    # The same email signs up again: a new customer with a new loyalty account, 0 points.
    again_body = dict(body, customer_id=f"c-{tag()}")
    summary = joined(shop, stack, again_body)
    assert summary["points"]["balance"] == 0
    assert summary["card"]["number"] != document["loyalty"]["member"]["card"]["number"]
    assert Decimal(ledger_totals(stack)[0]) == before[0]


def test_points_reach_the_mailchimp_merge_fields_within_one_sync(
    stack: LocalStackProcess, shop: SignedClient, mailchimp: FakeMailchimp
) -> None:
    """P6: the join pushes the loyalty merge fields (created once in the audience); an order
    moves the points and the next sync carries them to Mailchimp."""
    body = person()
    joined(shop, stack, body)
    member = mailchimp.member(body["email"])
    assert member is not None
    assert {"POINTS", "TIER", "NEXTREWARD", "REFLINK"} <= set(mailchimp.merge_types)
    assert mailchimp.merge_types["POINTS"] == "number"
    assert (member.merge_fields["LOYALTY"], member.merge_fields["POINTS"]) == ("yes", 0)

    order_id = f"o-{tag()}"
    answer = shop.post("/v1/orders", json=order_body(order_id, body["customer_id"], [line("SKU-C", "75.00")]))
    assert answer.status_code == 200, answer.text
    stack.wait_until_drained()

    member = mailchimp.member(body["email"])
    assert member is not None
    assert member.merge_fields["POINTS"] == 75
    created = [r for r in mailchimp.requests if r.method == "POST" and r.path.endswith("/merge-fields")]
    assert sorted(r.body["tag"] for r in created) == ["NEXTREWARD", "POINTS", "REFLINK", "TIER"]

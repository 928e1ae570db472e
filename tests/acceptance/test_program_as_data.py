"""The program as data (R9, R11) over the local stack started with make run's sample
program: the storefront reads it in words (ETag, 304), an admin PUTs a new version and the
history shows both with who and when, the storefront sees it within a minute, a kind change
after the first member is refused, and storefront keys may not call the admin routes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from bridge_local.__main__ import SAMPLE_PROGRAM, sample_program_json
from bridge_local.client import SignedClient
from bridge_local.stack import LocalStackProcess
from loyalty_bridge.adapters.ledger import DynamoDbLedger
from loyalty_bridge.program.orders import order_entry_id
from loyalty_bridge.settings import Settings
from tests.acceptance.test_checkout_flows import join, line, order_body, quote, tag, wait_for

SAMPLE = json.loads(SAMPLE_PROGRAM.read_text())


@pytest.fixture(scope="module")
def stack(local_stack_factory: Callable[..., LocalStackProcess]) -> LocalStackProcess:
    return local_stack_factory(params={"EarnRulesJson": sample_program_json()})


def test_the_storefront_reads_every_rule_of_the_sample_program_in_words(client: SignedClient) -> None:
    answer = client.get("/v1/program")

    assert answer.status_code == 200, answer.text
    program = answer.json()
    assert [way["description"] for way in program["ways_to_earn"]] == [
        "1 point per €1 spent",
        "2 points per €1 spent on Garden",
        "5 points for every COFFEE-1",
        "10 points for every order in store",
    ]
    assert [way["kind"] for way in program["ways_to_earn"]] == ["spend", "category", "sku", "visit"]
    assert [tier["name"] for tier in program["tiers"]] == ["Bronze", "Silver", "Gold"]
    assert [reward["name"] for reward in program["rewards"]] == ["Free shipping", "Coffee mug"]
    assert (program["kind"], program["currency"], program["expiry_months"]) == ("points", "EUR", 12)
    assert (program["point_value"], program["max_redeem_share"]) == ("0.01", "0.5")
    assert program["referral"]["bonus_points"] > 0
    assert answer.headers["cache-control"] == "private, max-age=30"

    again = client.get("/v1/program", headers={"If-None-Match": answer.headers["etag"]})

    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == answer.headers["etag"]


def test_an_admin_puts_a_new_program_and_the_history_shows_both_with_who_and_when(
    admin: SignedClient, client: SignedClient
) -> None:
    before = admin.get("/v1/admin/program").json()
    new_program = {**SAMPLE, "referral_bonus_points": 300}

    put = admin.put("/v1/admin/program", json=new_program)

    assert put.status_code == 200, put.text
    stored = put.json()
    assert (stored["version"], stored["created_by"]) == (before["version"] + 1, "local-admin")
    assert stored["program"]["referral_bonus_points"] == 300
    listed = admin.get("/v1/admin/program/versions?limit=2").json()["versions"]
    assert (listed[0]["version"], listed[0]["created_by"]) == (stored["version"], "local-admin")
    assert [v["version"] for v in listed] == [stored["version"], stored["version"] - 1]
    assert all(v["created_at"] for v in listed)
    if stored["version"] == 2:  # the first PUT of this stack: version 1 is the seed
        assert listed[1]["created_by"] == "EarnRulesJson"

    def in_force() -> dict[str, Any] | None:
        program: dict[str, Any] = client.get("/v1/program").json()
        return program if program["version"] == stored["version"] else None

    seen = wait_for(in_force, "the new version on the storefront", timeout=65)
    assert seen["referral"] == {"bonus_points": 300}


def test_a_kind_change_after_the_first_member_is_refused(
    stack: LocalStackProcess,
    admin: SignedClient,
    client: SignedClient,
    new_customer: Callable[..., dict[str, Any]],
) -> None:
    join(client, stack, new_customer)
    before = admin.get("/v1/admin/program").json()

    refused = admin.put("/v1/admin/program", json={**before["program"], "kind": "discount"})

    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "program_kind_locked"
    assert admin.get("/v1/admin/program").json() == before


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/admin/program"), ("PUT", "/v1/admin/program"), ("GET", "/v1/admin/program/versions")],
)
def test_storefront_keys_may_not_call_the_admin_program_routes(
    client: SignedClient, method: str, path: str
) -> None:
    answer = client.request(method, path, json=SAMPLE if method == "PUT" else None)

    assert answer.status_code == 403, answer.text  # the HTTP API authorizer's answer
    assert "version" not in answer.text


def test_a_new_program_prices_quotes_within_a_minute_and_earlier_entries_keep_their_version(
    stack: LocalStackProcess,
    admin: SignedClient,
    client: SignedClient,
    new_customer: Callable[..., dict[str, Any]],
) -> None:
    made: dict[str, Any] = {}

    def remembered(**overrides: Any) -> dict[str, Any]:
        made.update(new_customer(**overrides))
        return made

    customer_id = join(client, stack, remembered)
    before = admin.get("/v1/admin/program").json()
    first = client.post("/v1/orders", json=order_body(f"v-{tag()}", customer_id, [line("PLAIN", "40.00")]))
    assert first.status_code == 200, first.text
    assert quote(client, customer_id, [line("PLAIN", "40.00")])["points_to_earn"] == 40
    doubled = json.loads(json.dumps(before["program"]))
    doubled["rules"][0] = {**doubled["rules"][0], "points": "2"}  # the spend rule: 2 points per 1

    put = admin.put("/v1/admin/program", json=doubled)

    assert put.status_code == 200, put.text
    version = put.json()["version"]

    def doubled_quote() -> int | None:
        earned = int(quote(client, customer_id, [line("PLAIN", "40.00")])["points_to_earn"])
        return earned if earned == 80 else None

    assert wait_for(doubled_quote, "a quote priced by the new program", timeout=65) == 80
    second = client.post("/v1/orders", json=order_body(f"v-{tag()}", customer_id, [line("PLAIN", "40.00")]))
    assert second.status_code == 200, second.text
    assert second.json()["points_earned"] == 80
    ledger = DynamoDbLedger(stack.client("dynamodb"), stack.status()["tables"]["LedgerTable"], Settings())
    (member,) = ledger.find_members(email=made["email"])
    versions = {
        str(entry["entry_id"]): entry.get("program_version") for entry in ledger.entries(member.member_id)
    }
    assert versions[order_entry_id(first.json()["order_id"])] == before["version"]
    assert versions[order_entry_id(second.json()["order_id"])] == version


def test_a_per_tier_largest_share_is_enforced_on_holds(
    stack: LocalStackProcess,
    admin: SignedClient,
    client: SignedClient,
    new_customer: Callable[..., dict[str, Any]],
) -> None:
    tiers = [
        {**tier, "max_redeem_share": "0.1"} if tier["min_spend"] == 0 else tier for tier in SAMPLE["tiers"]
    ]
    put = admin.put("/v1/admin/program", json={**SAMPLE, "tiers": tiers})
    assert put.status_code == 200, put.text
    customer_id = join(client, stack, new_customer)
    # 300 or more points (the earlier doubled rate may still be in force), still Bronze: at
    # most 10% of an order paid with points.
    seeded = client.post("/v1/orders", json=order_body(f"s-{tag()}", customer_id, [line("SEED", "300.00")]))
    assert seeded.status_code == 200, seeded.text

    def bronze_share() -> int | None:
        offered = int(quote(client, customer_id, [line("PLAIN", "20.00")])["redeemable_points"])
        return offered if offered == 200 else None  # 10% of 20.00 at 0.01, not the program's 50%

    wait_for(bronze_share, "the tier's share in force", timeout=65)

    def hold(points: int) -> Any:
        body = {
            "customer_id": customer_id,
            "cart_id": f"cart-{tag()}",
            "points": points,
            "order_total": "20.00",
        }
        return client.post("/v1/checkout/redemptions", json=body)

    refused = hold(201)
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "insufficient_points"
    held = hold(200)
    assert held.status_code == 201, held.text
    assert (held.json()["points"], held.json()["discount"]) == (200, "2.00")


def test_an_eur_order_on_a_gbp_program_is_refused_and_with_an_eur_rate_converted(
    stack: LocalStackProcess,
    admin: SignedClient,
    client: SignedClient,
    new_customer: Callable[..., dict[str, Any]],
) -> None:
    customer_id = join(client, stack, new_customer)
    gbp = {**SAMPLE, "currency": "GBP"}
    assert admin.put("/v1/admin/program", json=gbp).status_code == 200
    basket = [line("PLAIN", "40.00")]

    def eur_quote(status: int) -> Any:
        body = {"customer_id": customer_id, "currency": "EUR", "lines": basket}
        answer = client.post("/v1/checkout/quote", json=body)
        return answer if answer.status_code == status else None

    refused_quote = wait_for(lambda: eur_quote(422), "EUR refused on the GBP program", timeout=65)
    assert refused_quote.json()["code"] == "currency_not_supported"
    order_id = f"eur-{tag()}"
    refused = client.post("/v1/orders", json=order_body(order_id, customer_id, basket))  # EUR
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "currency_not_supported"
    gbp_basket = {"customer_id": customer_id, "currency": "GBP", "lines": basket}
    assert client.post("/v1/checkout/quote", json=gbp_basket).json()["balance"] == 0  # nothing credited

    assert admin.put("/v1/admin/program", json={**gbp, "exchange_rates": {"EUR": "0.5"}}).status_code == 200
    quoted = wait_for(lambda: eur_quote(200), "EUR converted at the listed rate", timeout=65).json()
    credited = client.post("/v1/orders", json=order_body(order_id, customer_id, basket))  # the same order

    assert credited.status_code == 200, credited.text
    assert quoted["points_to_earn"] == credited.json()["points_earned"] == 20  # 40 EUR = 20 GBP

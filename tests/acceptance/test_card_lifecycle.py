"""Card lifecycle (issue 12 part 2, A10) over the local stack: an admin blocks a lost card,
then replaces it by a card of the stock; balance, expiry dates and history follow, the
blocked card earns nothing, and the customer earns on the new card.

An order of the customer while the card is blocked is answered ``not_credited`` with
reason ``card_blocked`` and kept as a New Order Error; replayed after the replace, it is
credited on the new card (README "Card lifecycle").
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from bridge_local.client import SignedClient
from bridge_local.stack import LocalStackProcess
from loyalty_bridge.adapters.ledger import DynamoDbLedger
from loyalty_bridge.program.earn_rules import load_rules
from loyalty_bridge.settings import Settings
from tests.acceptance.test_card_stock import import_csv, printed_card
from tests.acceptance.test_checkout_flows import give_points, join, line, order_body, tag, wait_for
from tests.acceptance.test_membership_flows import (
    confirm_attach,
    emailed_code,
    in_store_member,
    sign_up,
    start_attach,
)
from tests.acceptance.test_program_flows import PROGRAM, summary
from tests.conftest import Mailbox

NewCustomer = Callable[..., dict[str, Any]]
ClientFor = Callable[[LocalStackProcess, str], SignedClient]


@pytest.fixture(scope="module")
def stack(local_stack_factory: Callable[..., LocalStackProcess]) -> LocalStackProcess:
    return local_stack_factory(
        params={
            "EarnRulesJson": json.dumps(PROGRAM),
            "ReferralBaseUrl": "https://shop.example.com/join?ref={code}",
        }
    )


def ledger_of(stack: LocalStackProcess) -> DynamoDbLedger:
    settings = Settings(earn_rules_json=json.dumps(PROGRAM))
    table = stack.status()["tables"]["LedgerTable"]
    return DynamoDbLedger(stack.client("dynamodb"), table, settings, load_rules(settings))


def block(admin: SignedClient, card: str, reason: str = "lost") -> dict[str, Any]:
    answer = admin.post(f"/v1/admin/cards/{card}/block", json={"reason": reason})
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def replace(admin: SignedClient, card: str, new_card: str) -> tuple[int, dict[str, Any]]:
    answer = admin.post(f"/v1/admin/cards/{card}/replace", json={"new_card_number": new_card})
    return answer.status_code, answer.json()


def test_block_then_replace_a_card_balance_expiry_and_history_follow(
    stack: LocalStackProcess, client: SignedClient, admin: SignedClient, new_customer: NewCustomer
) -> None:
    customer_id = join(client, stack, new_customer)
    give_points(client, customer_id, 250)
    before = summary(client, customer_id)
    old_card = before["card"]["number"]
    assert "state" not in before["card"]  # active
    assert before["points"]["next_expiry"]["points"] == 250

    blocked = block(admin, old_card)
    assert (blocked["customer_id"], blocked["card"]["state"]) == (customer_id, "blocked")
    assert summary(client, customer_id)["card"] == {**before["card"], "state": "blocked"}

    # The blocked card earns nothing: the order is kept, not credited, and says why.
    stuck_order = f"o-{tag()}"
    posted = client.post("/v1/orders", json=order_body(stuck_order, customer_id, [line("TEE", "40.00")]))
    assert posted.status_code == 200, posted.text
    assert (posted.json()["status"], posted.json()["reason"], posted.json()["points_earned"]) == (
        "not_credited",
        "card_blocked",
        0,
    )
    redeem = client.post(
        "/v1/checkout/quote",
        json={
            "customer_id": customer_id,
            "currency": "EUR",
            "lines": [line("TEE", "40.00")],
            "redeem_points": 10,
        },
    )
    assert (redeem.status_code, redeem.json()["code"]) == (409, "card_blocked")
    assert summary(client, customer_id)["points"]["balance"] == 250

    new_card = printed_card()
    import_csv(admin, f"b-{tag()}", new_card + "\n")
    status, replaced = replace(admin, old_card, new_card)
    assert status == 200, replaced
    assert replaced["card"] == {"number": new_card, "kind": "physical"}
    assert (replaced["replaced_card"], replaced["customer_id"]) == (old_card, customer_id)
    assert replaced["points"] == before["points"]  # balance and next expiry (amount and date)

    after = summary(client, customer_id)
    assert after["card"] == replaced["card"]
    assert (after["points"], after["tier"]) == (before["points"], before["tier"])

    # History: the member is the same, its entries are all still there, plus the replace.
    member_id = replaced["member_id"]
    kinds = [entry["kind"] for entry in ledger_of(stack).entries(member_id)]
    assert kinds.count("order") == 1
    assert kinds[-1] == "replaced"

    # The customer earns on the new card; the blocked order, replayed, is credited too.
    give_points(client, customer_id, 30)
    errors = admin.get("/v1/admin/errors?status=open&limit=100").json()["errors"]
    [stuck] = [e for e in errors if e["subject_id"] == f"order {stuck_order}"]
    assert "Replace the card" in stuck["action"]
    assert admin.post(f"/v1/admin/errors/{stuck['error_id']}/replay").status_code == 202
    stack.wait_until_drained()
    wait_for(lambda: summary(client, customer_id)["points"]["balance"] == 320 or None, "replayed order")


def test_a_replace_is_idempotent_by_its_business_ids_and_checks_the_new_number(
    stack: LocalStackProcess, client: SignedClient, admin: SignedClient, new_customer: NewCustomer
) -> None:
    customer_id = join(client, stack, new_customer)
    old_card = summary(client, customer_id)["card"]["number"]
    other_customer = join(client, stack, new_customer)
    their_card = summary(client, other_customer)["card"]["number"]
    new_card, later = printed_card(), printed_card()
    import_csv(admin, f"b-{tag()}", f"{new_card}\n{later}\n")

    status, problem = replace(admin, old_card, their_card)
    assert (status, problem["code"]) == (409, "card_in_use")
    status, problem = replace(admin, old_card, new_card[:-1] + str((int(new_card[-1]) + 1) % 10))
    assert (status, problem["code"]) == (422, "invalid_card_number")
    status, problem = replace(admin, old_card, printed_card())  # never imported
    assert (status, problem["code"]) == (422, "card_not_in_stock")

    first = replace(admin, old_card, new_card)
    again = replace(admin, old_card, new_card)  # a new Idempotency-Key: the business ids answer
    assert first[0] == again[0] == 200
    assert first[1] == again[1]
    status, problem = replace(admin, old_card, later)
    assert (status, problem["code"]) == (409, "card_already_replaced")
    assert summary(client, customer_id)["card"]["number"] == new_card
    assert summary(client, other_customer)["card"]["number"] == their_card


def test_the_card_routes_are_admin_only(client: SignedClient) -> None:
    card = printed_card()
    assert client.post(f"/v1/admin/cards/{card}/block", json={"reason": "lost"}).status_code == 403
    assert client.post(f"/v1/admin/cards/{card}/replace", json={"new_card_number": card}).status_code == 403


def test_attaching_a_blocked_card_tells_its_owner_only_after_the_right_code(
    stack: LocalStackProcess, client: SignedClient, admin: SignedClient, new_customer: NewCustomer
) -> None:
    mailbox = Mailbox(stack.mail_dir)
    owner = new_customer(join=False)
    member = in_store_member(ledger_of(stack), owner["email"])
    block(admin, member.card.number, reason="stolen")

    sign_up(client, owner)
    start_attach(client, owner["customer_id"], member.card.number, owner["email"])  # 202 as for any card
    status, problem = confirm_attach(client, owner["customer_id"], emailed_code(mailbox, owner["email"]))
    assert (status, problem["code"]) == (409, "card_blocked")

    stranger = new_customer(join=False, email=f"someone.{uuid.uuid4().hex[:8]}@example.com")
    sign_up(client, stranger)
    start_attach(client, stranger["customer_id"], member.card.number, stranger["email"])
    status, problem = confirm_attach(
        client, stranger["customer_id"], emailed_code(mailbox, stranger["email"])
    )
    assert (status, problem["code"]) == (422, "card_not_attachable")  # as for any card not theirs

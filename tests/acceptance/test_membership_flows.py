"""Membership acceptance (issue 4): the local stack driven over HTTP as a storefront would,
with the mail and SMS the stack sent read back from its capture folders.

Loyalty accounts "made elsewhere" (in store, physical card stock) are seeded straight into
the stack's built-in ledger, as the retailer's existing program data would be.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from bridge_local.client import SignedClient
from bridge_local.stack import LocalStackProcess
from loyalty_bridge.adapters.ledger import DynamoDbLedger
from loyalty_bridge.models.domain import Consents, Member, MemberProfile
from loyalty_bridge.program import card_numbers
from loyalty_bridge.settings import Settings
from tests.conftest import Mailbox, SmsOutbox

ADMIN = "loyalty-admin@example.com"  # template.yaml's AdminEmails default
NewCustomer = Callable[..., dict[str, Any]]


# ---------------------------------------------------------------- helpers


@pytest.fixture
def ledger(local_stack: LocalStackProcess) -> DynamoDbLedger:
    """The stack's built-in loyalty platform, for seeding accounts made elsewhere."""
    table = local_stack.status()["tables"]["LedgerTable"]
    return DynamoDbLedger(local_stack.client("dynamodb"), table, Settings())


def in_store_member(ledger: DynamoDbLedger, email: str, mobile: str | None = None) -> Member:
    return ledger.create_member(
        MemberProfile(email=email, first_name="Store", mobile=mobile),
        Consents(),
        idempotency_key=uuid.uuid4().hex,
    )


def fresh_card_number() -> str:
    payload = "61" + "".join(str(secrets.randbelow(10)) for _ in range(12))
    return payload + card_numbers.luhn_check_digit(payload)


def fresh_mobile() -> str:
    return "+4477009" + "".join(str(secrets.randbelow(10)) for _ in range(5))


def summary(client: SignedClient, customer_id: str) -> dict[str, Any]:
    answer = client.get(f"/v1/customers/{customer_id}/loyalty")
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def sign_up(client: SignedClient, body: dict[str, Any]) -> None:
    answer = client.post("/v1/customers", json=body)
    assert answer.status_code == 202, answer.text


def emailed_code(mailbox: Mailbox, to: str) -> str:
    text = Mailbox.text(mailbox.wait_for(to=to, subject="Your code to add your loyalty card"))
    found = re.search(r"\b(\d{6})\b", text)
    assert found, text
    return found.group(1)


def start_attach(client: SignedClient, customer_id: str, card: str, email: str) -> dict[str, Any]:
    answer = client.post(
        f"/v1/customers/{customer_id}/loyalty/attach", json={"card_number": card, "email": email}
    )
    assert answer.status_code == 202, answer.text
    document: dict[str, Any] = answer.json()
    return document


def confirm_attach(client: SignedClient, customer_id: str, code: str) -> tuple[int, dict[str, Any]]:
    answer = client.post(f"/v1/customers/{customer_id}/loyalty/attach/confirm", json={"code": code})
    return answer.status_code, answer.json()


def without_request_id(problem: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in problem.items() if k != "request_id"}


def assert_clean(reply: str, *foreign: str) -> None:
    """A customer-facing reply: no stack trace, nothing of another customer."""
    assert "Traceback" not in reply
    assert 'File "' not in reply
    for value in foreign:
        assert value not in reply


# ---------------------------------------------------------------- signup and join (A1-A3)


def test_signup_answers_202_and_is_joined_with_a_card_number_shortly(
    local_stack: LocalStackProcess, signed_client: SignedClient, new_customer: NewCustomer
) -> None:
    body = new_customer()
    answer = signed_client.post("/v1/customers", json=body)
    assert answer.status_code == 202
    assert answer.json() == {"customer_id": body["customer_id"], "loyalty": {"status": "pending"}}
    local_stack.wait_until_drained()
    document = summary(signed_client, body["customer_id"])
    assert document["status"] == "joined"
    assert document["join_prompt"] is False
    assert document["card"]["kind"] == "virtual"
    assert card_numbers.is_valid(document["card"]["number"])
    assert document["points"]["balance"] == 0


def test_auto_join_off_gives_a_join_prompt_and_join_is_one_call(
    local_stack_factory: Callable[..., LocalStackProcess],
    client_for: Callable[[LocalStackProcess, str], SignedClient],
    new_customer: NewCustomer,
) -> None:
    stack = local_stack_factory(params={"AutoJoin": "false"})
    body = new_customer()
    with client_for(stack, "storefront") as client:
        sign_up(client, body)
        stack.wait_until_drained()
        before = summary(client, body["customer_id"])
        assert (before["status"], before["join_prompt"]) == ("not_joined", True)
        assert "card" not in before
        joined = client.post(f"/v1/customers/{body['customer_id']}/loyalty/join")
        assert (joined.status_code, joined.json()) == (202, {"status": "pending"})
        stack.wait_until_drained()
        after = summary(client, body["customer_id"])
    assert (after["status"], after["join_prompt"]) == ("joined", False)


def test_refused_signup_then_join_prompt_then_join_after_the_fix(
    local_stack: LocalStackProcess, signed_client: SignedClient, mailbox: Mailbox, new_customer: NewCustomer
) -> None:
    first = new_customer()
    sign_up(signed_client, first)
    local_stack.wait_until_drained()
    first_card = summary(signed_client, first["customer_id"])["card"]["number"]

    # Another web account with an email that already has a loyalty account.
    second = new_customer(email=first["email"])
    answer = signed_client.post("/v1/customers", json=second)
    assert answer.status_code == 202  # A2: signup never fails for a loyalty reason
    local_stack.wait_until_drained()
    refused = summary(signed_client, second["customer_id"])
    assert refused["status"] == "not_joined"
    assert refused["join_prompt"] is True
    assert refused["reason"] == "duplicate_email"
    assert "card" not in refused
    assert_clean(json.dumps(refused), first["customer_id"], first_card)

    # The admins hear about it once, in words.
    mail = mailbox.wait_for(to=ADMIN, subject=second["customer_id"])
    assert len(mailbox.messages(to=ADMIN, subject=second["customer_id"])) == 1
    text = Mailbox.text(mail)
    assert "New Account Registration Errors" in str(mail["subject"])
    assert "What was attempted: Create a loyalty account" in text
    assert f"customer {second['customer_id']}" in text
    assert first["email"] not in text  # masked
    assert "a***@e***.com" in text
    assert "What the platform answered: duplicate_member" in text
    assert "What to do:" in text

    # The customer corrects their email, then joins from the prompt.
    new_email = f"ann.fixed.{uuid.uuid4().hex[:8]}@example.com"
    patched = signed_client.patch(f"/v1/customers/{second['customer_id']}", json={"email": new_email})
    assert patched.status_code == 202, patched.text
    joined = signed_client.post(f"/v1/customers/{second['customer_id']}/loyalty/join")
    assert joined.status_code == 202
    local_stack.wait_until_drained()
    after = summary(signed_client, second["customer_id"])
    assert after["status"] == "joined"
    assert after["card"]["number"] != first_card


# ---------------------------------------------------------------- attach an existing card (A4, A5)


def test_attach_with_the_matching_email_and_the_emailed_code(
    ledger: DynamoDbLedger, signed_client: SignedClient, mailbox: Mailbox, new_customer: NewCustomer
) -> None:
    body = new_customer(join=False)
    member = in_store_member(ledger, body["email"])
    sign_up(signed_client, body)
    started = start_attach(
        signed_client, body["customer_id"], member.card.number, f"  {body['email'].upper()} "
    )
    assert started["verification"] == "email_code_sent"
    assert summary(signed_client, body["customer_id"])["status"] == "verifying"
    status, document = confirm_attach(
        signed_client, body["customer_id"], emailed_code(mailbox, body["email"])
    )
    assert status == 200, document
    assert document["status"] == "joined"
    assert document["card"]["number"] == member.card.number


def test_a_never_registered_physical_card_takes_the_customers_details(
    ledger: DynamoDbLedger, signed_client: SignedClient, mailbox: Mailbox, new_customer: NewCustomer
) -> None:
    card = fresh_card_number()
    ledger.import_physical_cards([card])
    body = new_customer(join=False)
    sign_up(signed_client, body)
    start_attach(signed_client, body["customer_id"], card, body["email"])
    status, document = confirm_attach(
        signed_client, body["customer_id"], emailed_code(mailbox, body["email"])
    )
    assert status == 200, document
    assert document["card"] == {"number": card, "kind": "physical"}


def test_wrong_email_wrong_card_and_blocked_card_get_identical_replies(
    local_stack: LocalStackProcess,
    ledger: DynamoDbLedger,
    signed_client: SignedClient,
    mailbox: Mailbox,
    new_customer: NewCustomer,
) -> None:
    someone = in_store_member(ledger, f"someone.{uuid.uuid4().hex[:8]}@example.com")
    mobile = fresh_mobile()
    kept = in_store_member(ledger, f"kept.{uuid.uuid4().hex[:8]}@example.com", mobile)
    blocked = in_store_member(ledger, f"blocked.{uuid.uuid4().hex[:8]}@example.com", mobile)
    ledger.merge_cards(kept.card.number, [blocked.card.number], idempotency_key=uuid.uuid4().hex)
    cases = {
        "wrong email": someone.card.number,
        "wrong card": fresh_card_number(),
        "blocked": blocked.card.number,
    }

    starts, confirms, customers = [], [], []
    for card in cases.values():
        body = new_customer(join=False)
        customers.append(body["customer_id"])
        sign_up(signed_client, body)
        started = start_attach(signed_client, body["customer_id"], card, body["email"])
        starts.append(sorted(started))
        status, problem = confirm_attach(
            signed_client, body["customer_id"], emailed_code(mailbox, body["email"])
        )
        confirms.append((status, without_request_id(problem)))
        assert_clean(json.dumps(problem), someone.profile.email, kept.profile.email, blocked.profile.email)
        after = summary(signed_client, body["customer_id"])
        assert (after["status"], after["join_prompt"]) == ("not_joined", True)
    assert starts == [["expires_at", "verification"]] * 3
    assert confirms[0] == confirms[1] == confirms[2]
    status, problem = confirms[0]
    assert status == 422
    assert problem["code"] == "card_not_attachable"
    assert problem["detail"].startswith("We could not add this card")

    # Each refusal is an Attach Existing Account Registration Error, emailed in words.
    answers = []
    for customer_id in customers:
        mail = mailbox.wait_for(to=ADMIN, subject=customer_id)
        assert "Attach Existing Account Registration Errors" in str(mail["subject"])
        text = Mailbox.text(mail)
        assert "What was attempted: Attach card ****" in text
        assert "What to do:" in text
        assert "@example.com" not in text.replace("***@e***.com", "")  # every address masked
        answers.append(text.split("What the platform answered: ", 1)[1].split("\n", 1)[0])
    assert "blocked" in answers[2]
    assert "different" in answers[0]
    assert "card_not_attachable" in answers[1]  # unknown: the platform's own refusal


def test_a_card_of_another_web_account_is_refused_the_same_way(
    local_stack: LocalStackProcess, signed_client: SignedClient, mailbox: Mailbox, new_customer: NewCustomer
) -> None:
    owner = new_customer()
    sign_up(signed_client, owner)
    local_stack.wait_until_drained()
    taken = summary(signed_client, owner["customer_id"])["card"]["number"]
    body = new_customer(join=False, email=owner["email"])
    sign_up(signed_client, body)
    start_attach(signed_client, body["customer_id"], taken, body["email"])
    status, problem = confirm_attach(signed_client, body["customer_id"], emailed_code(mailbox, body["email"]))
    assert (status, problem["code"]) == (422, "card_not_attachable")
    assert_clean(json.dumps(problem), owner["customer_id"], taken)
    assert summary(signed_client, owner["customer_id"])["card"]["number"] == taken  # A5: still theirs


def test_a_code_allows_five_tries(
    ledger: DynamoDbLedger, signed_client: SignedClient, mailbox: Mailbox, new_customer: NewCustomer
) -> None:
    body = new_customer(join=False)
    member = in_store_member(ledger, body["email"])
    sign_up(signed_client, body)
    start_attach(signed_client, body["customer_id"], member.card.number, body["email"])
    right = emailed_code(mailbox, body["email"])
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(5):
        status, problem = confirm_attach(signed_client, body["customer_id"], wrong)
        assert (status, problem["code"]) == (422, "invalid_code")
    status, problem = confirm_attach(signed_client, body["customer_id"], right)
    assert (status, problem["code"]) == (422, "invalid_code")  # used up
    after = summary(signed_client, body["customer_id"])
    assert (after["status"], after["join_prompt"]) == ("not_joined", True)


def test_a_code_expires(
    local_stack_factory: Callable[..., LocalStackProcess],
    client_for: Callable[[LocalStackProcess, str], SignedClient],
    new_customer: NewCustomer,
) -> None:
    stack = local_stack_factory(env={"VERIFICATION_CODE_TTL_SECONDS": "1"})
    ledger = DynamoDbLedger(stack.client("dynamodb"), stack.status()["tables"]["LedgerTable"], Settings())
    body = new_customer(join=False)
    member = in_store_member(ledger, body["email"])
    with client_for(stack, "storefront") as client:
        sign_up(client, body)
        start_attach(client, body["customer_id"], member.card.number, body["email"])
        code = emailed_code(Mailbox(stack.mail_dir), body["email"])
        time.sleep(1.5)  # let the code lapse (no assertion on speed)
        status, problem = confirm_attach(client, body["customer_id"], code)
        assert (status, problem["code"]) == (422, "invalid_code")
        after = summary(client, body["customer_id"])
    assert (after["status"], after["join_prompt"]) == ("not_joined", True)


def test_attach_attempts_are_rate_limited(
    ledger: DynamoDbLedger, signed_client: SignedClient, new_customer: NewCustomer
) -> None:
    body = new_customer(join=False)
    member = in_store_member(ledger, body["email"])
    sign_up(signed_client, body)
    for _ in range(5):
        start_attach(signed_client, body["customer_id"], member.card.number, body["email"])
    answer = signed_client.post(
        f"/v1/customers/{body['customer_id']}/loyalty/attach",
        json={"card_number": member.card.number, "email": body["email"]},
    )
    assert answer.status_code == 429
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "rate_limited"
    assert int(answer.headers["retry-after"]) > 0


# ---------------------------------------------------------------- phone code (A7)


def test_phone_code_joins_and_records_consent(
    local_stack: LocalStackProcess,
    signed_client: SignedClient,
    sms_outbox: SmsOutbox,
    new_customer: NewCustomer,
) -> None:
    body = new_customer(join=False)
    mobile = fresh_mobile()
    sign_up(signed_client, body)
    sent = signed_client.post(f"/v1/customers/{body['customer_id']}/loyalty/phone", json={"mobile": mobile})
    assert sent.status_code == 202, sent.text
    assert set(sent.json()) == {"expires_at"}
    message = sms_outbox.wait_for(to=mobile)
    found = re.search(r"\b(\d{4})\b", str(message["message"]))
    assert found
    confirmed = signed_client.post(
        f"/v1/customers/{body['customer_id']}/loyalty/phone/confirm", json={"code": found.group(1)}
    )
    assert confirmed.status_code == 200, confirmed.text
    document = confirmed.json()
    assert document["status"] == "joined"
    assert document["card"]["number"]


def test_bad_input_is_a_clear_422_without_a_trace(
    signed_client: SignedClient, new_customer: NewCustomer
) -> None:
    answer = signed_client.post("/v1/customers", json=new_customer(email="nope", card_number="12"))
    assert answer.status_code == 422
    problem = answer.json()
    assert {e["field"] for e in problem["errors"]} >= {"email", "card_number"}
    assert_clean(answer.text)

"""The profile read (issue 12 part 6, seed 002) over the local stack: after attaching a card
whose loyalty account holds a mobile and a birthday, GET .../loyalty/profile answers them
and ``missing`` names only the required fields (A9) still absent."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from bridge_local.client import SignedClient
from bridge_local.stack import LocalStackProcess
from loyalty_bridge.adapters.ledger import DynamoDbLedger
from loyalty_bridge.models.domain import Consents, MemberProfile
from loyalty_bridge.settings import Settings
from tests.acceptance.test_membership_flows import confirm_attach, emailed_code, fresh_mobile, start_attach
from tests.conftest import Mailbox

PROGRAM = {"required_profile_fields": ["mobile", "birthday", "address"]}
PROGRAM_PARAMS = {"EarnRulesJson": json.dumps(PROGRAM)}


@pytest.fixture(scope="module")
def stack(local_stack_factory: Callable[..., LocalStackProcess]) -> LocalStackProcess:
    return local_stack_factory(params=PROGRAM_PARAMS)


@pytest.fixture
def mailbox(stack: LocalStackProcess, mailbox_for: Callable[[LocalStackProcess], Mailbox]) -> Mailbox:
    return mailbox_for(stack)


@pytest.fixture
def ledger(stack: LocalStackProcess) -> DynamoDbLedger:
    """The stack's built-in platform, to seed an account made in store."""
    table = stack.status()["tables"]["LedgerTable"]
    return DynamoDbLedger(stack.client("dynamodb"), table, Settings(earn_rules_json=json.dumps(PROGRAM)))


def profile(shop: SignedClient, customer_id: str) -> tuple[int, dict[str, Any]]:
    answer = shop.get(f"/v1/customers/{customer_id}/loyalty/profile")
    return answer.status_code, answer.json()


def test_after_attaching_a_card_the_profile_read_answers_the_account_and_what_is_missing(
    stack: LocalStackProcess,
    shop: SignedClient,
    ledger: DynamoDbLedger,
    mailbox: Mailbox,
    new_customer: Callable[..., dict[str, Any]],
) -> None:
    body = new_customer(join=False)  # Ann Lee, no mobile, birthday or address
    mobile = fresh_mobile()
    member = ledger.create_member(
        MemberProfile(
            email=body["email"], first_name="Ann", last_name="Lee", mobile=mobile, birthday=date(1988, 4, 2)
        ),
        Consents(),
        idempotency_key=uuid.uuid4().hex,
    )
    assert shop.post("/v1/customers", json=body).status_code == 202
    status, refused = profile(shop, body["customer_id"])
    assert (status, refused["code"]) == (422, "not_joined")

    start_attach(shop, body["customer_id"], member.card.number, body["email"])
    status, joined = confirm_attach(shop, body["customer_id"], emailed_code(mailbox, body["email"]))
    assert status == 200, joined
    stack.wait_until_drained()  # the profile push after the attach has run: the account is settled

    status, read = profile(shop, body["customer_id"])
    assert status == 200, read
    assert read == {
        "card_number": member.card.number,
        "email": body["email"],
        "first_name": "Ann",
        "last_name": "Lee",
        "mobile": mobile,
        "birthday": "1988-04-02",
        "address": None,
        "missing": ["address"],
        "accumulate_only": True,
    }


def test_the_profile_read_of_an_unknown_customer_is_404(shop: SignedClient) -> None:
    status, problem = profile(shop, f"c-{uuid.uuid4().hex[:8]}")
    assert (status, problem["code"]) == (404, "customer_not_found")

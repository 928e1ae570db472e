"""Profile and consent sync over the local stack (issue 5 acceptance), as a storefront, an
admin and Mailchimp would drive it: signed HTTP in, the loyalty platform (built-in ledger,
read through its port), FakeMailchimp and the captured admin mail checked at the end."""

from __future__ import annotations

import json
import random
import string
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bridge_local.client import SignedClient
from bridge_local.stack import LocalStackProcess
from loyalty_bridge.adapters.ledger import DynamoDbLedger
from loyalty_bridge.models.domain import Consents, Member
from loyalty_bridge.settings import Settings
from tests.conftest import Mailbox
from tests.fake_mailchimp import FakeMailchimp, webhook_form

HOOK_SECRET = "acceptance-hook-secret"


@pytest.fixture(scope="module")
def mailchimp() -> Iterator[FakeMailchimp]:
    with FakeMailchimp(list_id="acceptance-list") as fake:
        yield fake


@pytest.fixture(scope="module")
def mailchimp_stack(
    local_stack_factory: Callable[..., LocalStackProcess], mailchimp: FakeMailchimp
) -> LocalStackProcess:
    stack = local_stack_factory(
        env={"MAILCHIMP_LIST_ID": mailchimp.list_id, "MAILCHIMP_BASE_URL": mailchimp.url}
    )
    stack.client("secretsmanager").put_secret_value(
        SecretId=stack.status()["secrets"]["MailchimpSecret"],
        SecretString=json.dumps({"api_key": mailchimp.api_key, "webhook_secret": HOOK_SECRET}),
    )
    return stack


def platform_member(stack: LocalStackProcess, email: str) -> Member:
    """The loyalty account, read through the platform port on the stack's own tables."""
    tables = stack.status()["tables"]
    ledger = DynamoDbLedger(stack.client("dynamodb"), tables["LedgerTable"], Settings())
    [member] = ledger.find_members(email=email)
    return member


def signup(client: SignedClient, stack: LocalStackProcess, body: dict[str, Any]) -> None:
    created = client.post("/v1/customers", json=body)
    assert created.status_code == 202, created.text
    stack.wait_until_drained()
    assert client.get(f"/v1/customers/{body['customer_id']}/loyalty").json()["status"] == "joined"


def test_a_burst_of_opt_in_and_out_ends_with_the_last_choice_on_the_platform_and_in_mailchimp(
    mailchimp_stack: LocalStackProcess,
    mailchimp: FakeMailchimp,
    client_for: Callable[[LocalStackProcess, str], SignedClient],
    new_customer: Callable[..., dict[str, Any]],
) -> None:
    body = new_customer(consents={"email": False, "sms": False})
    with client_for(mailchimp_stack, "storefront") as client:
        signup(client, mailchimp_stack, body)
        for n in range(10):
            saved = client.put(
                f"/v1/customers/{body['customer_id']}/consents", json={"email": n % 2 == 0, "sms": n % 2 == 1}
            )
            assert saved.status_code == 202, saved.text
            assert saved.json()["sync"] == "queued"
        mailchimp_stack.wait_until_drained()

    last = Consents(email=False, sms=True)  # n = 9
    assert platform_member(mailchimp_stack, body["email"]).consents == last
    member = mailchimp.member(body["email"])
    assert member is not None
    assert member.status == "unsubscribed"
    assert member.merge_fields["LOYALTY"] == "yes"


def test_a_mailchimp_unsubscribe_reaches_the_platform(
    mailchimp_stack: LocalStackProcess,
    mailchimp: FakeMailchimp,
    client_for: Callable[[LocalStackProcess, str], SignedClient],
    new_customer: Callable[..., dict[str, Any]],
) -> None:
    body = new_customer(consents={"email": False, "sms": False})
    with client_for(mailchimp_stack, "storefront") as client:
        signup(client, mailchimp_stack, body)
        opted_in = client.put(
            f"/v1/customers/{body['customer_id']}/consents", json={"email": True, "sms": False}
        )
        assert opted_in.status_code == 202, opted_in.text
        mailchimp_stack.wait_until_drained()
        assert platform_member(mailchimp_stack, body["email"]).consents.email is True
        mailchimp.unsubscribe_by_member(body["email"])

        form = webhook_form("unsubscribe", body["email"], mailchimp.list_id)
        headers = {"content-type": "application/x-www-form-urlencoded"}
        refused = client.post(
            "/v1/webhooks/mailchimp?secret=wrong",
            content=form,
            headers=headers,
            sign=False,
            idempotency_key=False,
        )
        assert refused.status_code == 401
        hook = client.post(
            f"/v1/webhooks/mailchimp?secret={HOOK_SECRET}",
            content=form,
            headers=headers,
            sign=False,
            idempotency_key=False,
        )
        assert hook.status_code == 200, hook.text
        assert hook.json() == {"result": "applied"}
        mailchimp_stack.wait_until_drained()

    assert platform_member(mailchimp_stack, body["email"]).consents == Consents(email=False, sms=False)
    member = mailchimp.member(body["email"])
    assert member is not None
    assert member.status == "unsubscribed"


def test_a_platform_refusal_is_one_error_one_email_and_a_successful_replay_after_the_fix(
    local_stack: LocalStackProcess,
    signed_client: SignedClient,
    admin_client: SignedClient,
    mailbox: Mailbox,
    new_customer: Callable[..., dict[str, Any]],
) -> None:
    first, second = new_customer(), new_customer()
    signup(signed_client, local_stack, first)
    signup(signed_client, local_stack, second)

    # The first customer takes the second one's email: the web change stands, the platform refuses.
    changed = signed_client.patch(f"/v1/customers/{first['customer_id']}", json={"email": second["email"]})
    assert changed.status_code == 202, changed.text
    local_stack.wait_until_drained()

    listed = admin_client.get("/v1/admin/errors?category=account_update&status=open&limit=100")
    assert listed.status_code == 200, listed.text
    mine = [e for e in listed.json()["errors"] if e["customer_id"] == first["customer_id"]]
    assert len(mine) == 1
    error = mine[0]
    assert error["replayable"] is True
    assert set(error["change_before"]) == {"email"}
    mails = mailbox.messages(subject=first["customer_id"])
    assert len(mails) == 1
    assert "Account Update Errors" in str(mails[0]["subject"])
    text = Mailbox.text(mails[0])
    assert "before -> after" in text
    assert first["email"][0] + "***@" in text
    assert first["email"] not in text
    assert error["error_id"] in text

    # The fix: the second customer moves to another address (which frees the old one on the
    # platform); then the admin replays the first change.
    moved = signed_client.patch(
        f"/v1/customers/{second['customer_id']}", json={"email": f"moved.{uuid.uuid4().hex[:8]}@example.com"}
    )
    assert moved.status_code == 202
    local_stack.wait_until_drained()
    replay = admin_client.post(f"/v1/admin/errors/{error['error_id']}/replay")
    assert replay.status_code == 202, replay.text
    local_stack.wait_until_drained()

    card = signed_client.get(f"/v1/customers/{first['customer_id']}/loyalty").json()["card"]["number"]
    assert platform_member(local_stack, second["email"]).card.number == card
    resolved = admin_client.get("/v1/admin/errors?category=account_update&status=resolved&limit=100").json()
    assert error["error_id"] in {e["error_id"] for e in resolved["errors"]}
    assert len(mailbox.messages(subject=first["customer_id"])) == 1
    # Storefront keys cannot use the admin routes.
    assert signed_client.get("/v1/admin/errors").status_code == 403


def test_a_poisoned_message_ends_in_the_error_store_via_the_dlq(
    local_stack: LocalStackProcess, admin_client: SignedClient, mailbox: Mailbox
) -> None:
    # Letters only: raw messages are shown masked, and a run of 9+ digits (which a hex tag
    # sometimes is) reads as a phone number and would be masked out of the listing.
    marker = "poison-" + "".join(random.choices(string.ascii_lowercase, k=12))
    queue_url = local_stack.status()["queues"]["MembershipQueue"]["url"]
    local_stack.client("sqs").send_message(QueueUrl=queue_url, MessageBody=f"{{not an envelope {marker}")

    local_stack.wait_until_drained(timeout=90)

    found: list[dict[str, Any]] = []
    for _ in range(50):  # the DLQ hop is asynchronous: look again for a few seconds
        found = [
            e
            for e in _all_errors(admin_client, "new_account_registration")
            if marker in (e.get("raw_message") or "")
        ]
        if found:
            break
        time.sleep(0.2)
    assert len(found) == 1
    assert found[0]["replayable"] is False
    assert found[0]["notified"] is True
    assert any(
        found[0]["error_id"] in Mailbox.text(m)
        for m in mailbox.messages(subject="New Account Registration Errors")
    )


def _all_errors(admin_client: SignedClient, category: str) -> list[dict[str, Any]]:
    """Every error of a category, following the cursor (the session's stack keeps many)."""
    errors: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = admin_client.get(f"/v1/admin/errors?category={category}&limit=100{cursor}")
        assert page.status_code == 200, page.text
        body = page.json()
        errors.extend(body["errors"])
        if not body.get("next_cursor"):
            return errors
        cursor = f"&cursor={body['next_cursor']}"

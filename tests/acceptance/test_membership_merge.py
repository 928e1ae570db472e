"""A8 over the local stack: a customer joined with one of the cards on their phone verifies
the phone, is offered every card on it they may merge, and merges them into the primary of
their choice; the points move to the primary in one step and the customer's card follows
it. Cards other web accounts hold on the same mobile are counted, never shown or merged."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from bridge_local.client import SignedClient
from bridge_local.stack import LocalStackProcess
from loyalty_bridge.adapters.ledger import DynamoDbLedger
from loyalty_bridge.models.domain import CardState, Member, MemberProfile, PlatformOrder, PlatformOrderLine
from loyalty_bridge.settings import Settings
from tests.acceptance.test_membership_flows import (
    NewCustomer,
    assert_clean,
    confirm_attach,
    emailed_code,
    fresh_card_number,
    fresh_mobile,
    in_store_member,
    sign_up,
    start_attach,
    summary,
    without_request_id,
)
from tests.conftest import Mailbox, SmsOutbox


@pytest.fixture
def stack_ledger(local_stack: LocalStackProcess) -> DynamoDbLedger:
    """The stack's built-in loyalty platform, for seeding accounts made in store."""
    table = local_stack.status()["tables"]["LedgerTable"]
    return DynamoDbLedger(local_stack.client("dynamodb"), table, Settings())


def earn(ledger: DynamoDbLedger, member: Member, amount: str) -> None:
    line = PlatformOrderLine(
        product_code="SKU-1", title="Thing", quantity=1, unit_price=Decimal(amount), sku="SKU-1"
    )
    ledger.post_order(
        member.member_id,
        PlatformOrder(
            order_id=f"o-{uuid.uuid4().hex[:12]}",
            placed_at=datetime.now(UTC),
            currency="EUR",
            channel="store",
            lines=[line],
            total=Decimal(amount),
        ),
    )


def points(document: dict[str, Any]) -> int:
    return int(document["points"]["balance"]) + int(document["points"]["pending"])


def joined_with_two_cards_on_the_phone(
    ledger: DynamoDbLedger,
    client: SignedClient,
    mailbox: Mailbox,
    sms_outbox: SmsOutbox,
    new_customer: NewCustomer,
) -> tuple[dict[str, Any], Member, Member, list[dict[str, Any]]]:
    """Attach card A (the customer's email) by emailed code; A and B share the customer's
    mobile; verify the mobile: the answer lists both cards."""
    body = new_customer(join=False)
    mobile = fresh_mobile()
    a = in_store_member(ledger, body["email"], mobile=mobile)
    b = in_store_member(ledger, f"store.{uuid.uuid4().hex[:8]}@example.com", mobile=mobile)
    earn(ledger, a, "120.00")
    earn(ledger, b, "80.00")
    sign_up(client, body)
    start_attach(client, body["customer_id"], a.card.number, body["email"])
    status, attached = confirm_attach(client, body["customer_id"], emailed_code(mailbox, body["email"]))
    assert status == 200, attached
    assert attached["card"]["number"] == a.card.number

    sent = client.post(f"/v1/customers/{body['customer_id']}/loyalty/phone", json={"mobile": mobile})
    assert sent.status_code == 202, sent.text
    code = re.search(r"\b(\d{4})\b", str(sms_outbox.wait_for(to=mobile)["message"]))
    assert code
    confirmed = client.post(
        f"/v1/customers/{body['customer_id']}/loyalty/phone/confirm", json={"code": code.group(1)}
    )
    assert confirmed.status_code == 200, confirmed.text
    cards: list[dict[str, Any]] = confirmed.json()["cards"]
    return body, a, b, cards


@pytest.mark.parametrize("primary_is_linked", [True, False], ids=["keep-linked-card", "switch-to-other-card"])
def test_a_joined_customer_merges_the_cards_on_their_phone_into_the_primary(
    local_stack: LocalStackProcess,
    stack_ledger: DynamoDbLedger,
    signed_client: SignedClient,
    mailbox: Mailbox,
    sms_outbox: SmsOutbox,
    new_customer: NewCustomer,
    primary_is_linked: bool,
) -> None:
    body, a, b, cards = joined_with_two_cards_on_the_phone(
        stack_ledger, signed_client, mailbox, sms_outbox, new_customer
    )
    assert sorted(c["number"] for c in cards) == sorted([a.card.number, b.card.number])
    before = points(summary(signed_client, body["customer_id"]))
    total = sum(int(c["points"]) for c in cards)
    assert total > before > 0  # B's points are not the customer's yet
    primary, other = (a, b) if primary_is_linked else (b, a)

    merged = signed_client.post(
        f"/v1/customers/{body['customer_id']}/loyalty/merge",
        json={"primary_card": primary.card.number, "cards": [other.card.number]},
    )

    assert merged.status_code == 200, merged.text
    document = merged.json()
    assert document["status"] == "joined"
    assert document["card"]["number"] == primary.card.number
    assert points(document) == total
    assert stack_ledger.get_member(other.member_id).card.state is CardState.BLOCKED
    local_stack.wait_until_drained()
    later = summary(signed_client, body["customer_id"])
    assert (later["card"]["number"], points(later)) == (primary.card.number, total)
    # Another merge needs the mobile verified again.
    again = signed_client.post(
        f"/v1/customers/{body['customer_id']}/loyalty/merge",
        json={"primary_card": primary.card.number, "cards": [other.card.number]},
    )
    assert again.json()["code"] == "phone_not_verified", again.text


# ---------------------------------------------------------------- several web accounts (issue 17.4)
# Cards no web account holds come from the card stock and member imports; those routes come
# later, so these tests make them in the stack's ledger as the imports will
# (``import_physical_cards`` then a registration in store, or ``create_member``).


def verify_phone(client: SignedClient, sms_outbox: SmsOutbox, customer_id: str, mobile: str) -> Any:
    sent = client.post(f"/v1/customers/{customer_id}/loyalty/phone", json={"mobile": mobile})
    assert sent.status_code == 202, sent.text
    code = re.search(r"\b(\d{4})\b", str(sms_outbox.wait_for(to=mobile)["message"]))
    assert code
    return client.post(f"/v1/customers/{customer_id}/loyalty/phone/confirm", json={"code": code.group(1)})


def joined_web_account(
    local_stack: LocalStackProcess, client: SignedClient, body: dict[str, Any]
) -> dict[str, Any]:
    """A web account signed up with a mobile and auto-joined: its own virtual card."""
    sign_up(client, body)
    local_stack.wait_until_drained()
    document = summary(client, body["customer_id"])
    assert document["status"] == "joined", document
    return document


def stock_card_member(ledger: DynamoDbLedger, email: str, mobile: str) -> Member:
    """A printed card from the shop's stock, registered in store with ``mobile``."""
    number = fresh_card_number()
    assert ledger.import_physical_cards([number]) == 1
    return ledger.attach_card(
        number,
        MemberProfile(email=email, first_name="Store", mobile=mobile),
        idempotency_key=uuid.uuid4().hex,
    )


def lots(local_stack: LocalStackProcess, member_id: str) -> set[str]:
    """The orders whose pending points (LOT items) sit with ``member_id`` in the ledger."""
    table = local_stack.status()["tables"]["LedgerTable"]
    answer = local_stack.client("dynamodb").query(
        TableName=table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :lot)",
        ExpressionAttributeValues={":pk": {"S": f"MEMBER#{member_id}"}, ":lot": {"S": "LOT#"}},
        ConsistentRead=True,
    )
    return {item["sk"]["S"].removeprefix("LOT#") for item in answer["Items"]}


def test_two_web_accounts_on_one_mobile_see_only_their_own_and_unlinked_cards(
    local_stack: LocalStackProcess,
    stack_ledger: DynamoDbLedger,
    signed_client: SignedClient,
    sms_outbox: SmsOutbox,
    new_customer: NewCustomer,
) -> None:
    mobile = fresh_mobile()
    ann, bob = new_customer(mobile=mobile), new_customer(mobile=mobile)
    mine = joined_web_account(local_stack, signed_client, ann)["card"]["number"]
    theirs = joined_web_account(local_stack, signed_client, bob)
    unlinked = in_store_member(stack_ledger, f"store.{uuid.uuid4().hex[:8]}@example.com", mobile=mobile)
    earn(stack_ledger, unlinked, "60.00")
    earn(stack_ledger, stack_ledger.find_members(card_number=theirs["card"]["number"])[0], "90.00")
    bob_before = summary(signed_client, bob["customer_id"])

    confirmed = verify_phone(signed_client, sms_outbox, ann["customer_id"], mobile)

    assert confirmed.status_code == 200, confirmed.text
    document = confirmed.json()
    assert sorted(c["number"] for c in document["cards"]) == sorted([mine, unlinked.card.number])
    assert document["others_on_phone"] == 1
    assert_clean(confirmed.text, theirs["card"]["number"])
    assert points(bob_before) > 0
    assert points(bob_before) not in {int(c["points"]) for c in document["cards"]}  # no balance of theirs

    named = signed_client.post(
        f"/v1/customers/{ann['customer_id']}/loyalty/merge",
        json={"primary_card": mine, "cards": [theirs["card"]["number"]]},
    )
    unknown = signed_client.post(
        f"/v1/customers/{ann['customer_id']}/loyalty/merge",
        json={"primary_card": mine, "cards": [fresh_card_number()]},
    )

    assert named.status_code == unknown.status_code == 422, named.text
    assert without_request_id(named.json()) == without_request_id(unknown.json())
    assert named.json()["code"] == "cards_not_on_phone"
    assert_clean(named.text, theirs["card"]["number"])
    local_stack.wait_until_drained()
    assert summary(signed_client, bob["customer_id"]) == bob_before
    # What was offered still merges: the unlinked card's points join the customer's own.
    merged = signed_client.post(
        f"/v1/customers/{ann['customer_id']}/loyalty/merge",
        json={"primary_card": mine, "cards": [unlinked.card.number]},
    )
    assert merged.status_code == 200, merged.text
    assert (merged.json()["card"]["number"], points(merged.json())) == (
        mine,
        sum(int(c["points"]) for c in document["cards"]),
    )
    assert summary(signed_client, bob["customer_id"]) == bob_before


def test_a_customer_merges_the_unlinked_cards_on_their_phone_into_a_primary(
    local_stack: LocalStackProcess,
    stack_ledger: DynamoDbLedger,
    signed_client: SignedClient,
    sms_outbox: SmsOutbox,
    new_customer: NewCustomer,
) -> None:
    mobile = fresh_mobile()
    bob = new_customer(mobile=mobile)
    theirs = joined_web_account(local_stack, signed_client, bob)
    physical = stock_card_member(stack_ledger, f"store.{uuid.uuid4().hex[:8]}@example.com", mobile)
    virtual = in_store_member(stack_ledger, f"old.{uuid.uuid4().hex[:8]}@example.com", mobile=mobile)
    earn(stack_ledger, physical, "50.00")
    earn(stack_ledger, virtual, "70.00")
    earn(stack_ledger, virtual, "30.00")
    moved_lots = lots(local_stack, physical.member_id) | lots(local_stack, virtual.member_id)
    total = sum(
        stack_ledger.get_balance(m.member_id).balance + stack_ledger.get_balance(m.member_id).pending
        for m in (physical, virtual)
    )
    assert total > 0
    ann = new_customer(join=False)
    sign_up(signed_client, ann)

    confirmed = verify_phone(signed_client, sms_outbox, ann["customer_id"], mobile)
    assert confirmed.status_code == 200, confirmed.text
    document = confirmed.json()
    assert document["status"] == "not_joined"
    assert sorted(c["number"] for c in document["cards"]) == sorted(
        [physical.card.number, virtual.card.number]
    )
    assert document["others_on_phone"] == 1
    assert_clean(confirmed.text, theirs["card"]["number"])

    merged = signed_client.post(
        f"/v1/customers/{ann['customer_id']}/loyalty/merge",
        json={"primary_card": physical.card.number, "cards": [virtual.card.number]},
    )

    assert merged.status_code == 200, merged.text
    answer = merged.json()
    assert answer["status"] == "joined"
    assert answer["card"] == {"number": physical.card.number, "kind": "physical"}
    assert points(answer) == total
    assert stack_ledger.get_member(virtual.member_id).card.state is CardState.BLOCKED
    assert lots(local_stack, virtual.member_id) == set()
    assert lots(local_stack, physical.member_id) == moved_lots
    local_stack.wait_until_drained()
    later = summary(signed_client, ann["customer_id"])
    assert (later["card"]["number"], points(later)) == (physical.card.number, total)
    assert summary(signed_client, bob["customer_id"])["card"] == theirs["card"]

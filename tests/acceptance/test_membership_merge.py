"""A8 over the local stack: a customer joined with one of the cards on their phone verifies
the phone, is offered every card on it, and merges them into the primary of their choice;
the points move to the primary in one step and the customer's card follows it."""

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
from loyalty_bridge.models.domain import CardState, Member, PlatformOrder, PlatformOrderLine
from loyalty_bridge.settings import Settings
from tests.acceptance.test_membership_flows import (
    NewCustomer,
    confirm_attach,
    emailed_code,
    fresh_mobile,
    in_store_member,
    sign_up,
    start_attach,
    summary,
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
            currency="GBP",
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

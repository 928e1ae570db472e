"""The storefront flows over the local stack with ``--platform talon-one`` (issue 14): the
Talon.One adapter against the fake Talon.One Integration API (tests/fake_talon_one), which
checks every exchange against the official schemas (a violation fails the module).

The module's fake runs in this process (``--platform-url``), so each test asserts what the
storefront sees and what Talon.One recorded: profiles, cards, sessions, card transactions.
One test runs ``--platform talon-one`` as ``make run`` does, with the fake it starts itself.

The fake's campaign: 1 point per whole currency unit of the cart less the points discount,
the session's redeem attribute deducted at close, both rolled back on returns and cancel.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge_local.client import SignedClient
from bridge_local.stack import LocalStackProcess
from loyalty_bridge.adapters.checkout_store import DynamoCheckoutStore
from loyalty_bridge.services.order_messages import order_envelope
from tests.acceptance.test_checkout_flows import BASKET, join, line, order_body, quote, tag, wait_for
from tests.acceptance.test_membership_flows import (
    confirm_attach,
    emailed_code,
    fresh_card_number,
    sign_up,
    start_attach,
    summary,
)
from tests.conftest import Mailbox
from tests.fake_rest_platform.faults import Fault
from tests.fake_talon_one import DEFAULT_API_KEY, PROGRAM_ID, FakeTalonOne, TalonOneServer, serve
from tests.fake_talon_one.campaign import Card

NewCustomer = Callable[..., dict[str, Any]]


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def talon() -> Iterator[TalonOneServer]:
    server = serve(FakeTalonOne())
    yield server
    server.stop()
    problems = server.app.violations + [f"fake Talon.One crashed: {c}" for c in server.app.crashes]
    assert not problems, "Talon.One schema violated:\n" + "\n".join(problems)


@pytest.fixture(scope="module")
def talon_stack(
    tmp_path_factory: pytest.TempPathFactory, talon: TalonOneServer
) -> Iterator[LocalStackProcess]:
    stack = LocalStackProcess(
        port=0,
        state_dir=tmp_path_factory.mktemp("talon-one-stack"),
        visibility_seconds=1,
        extra_args=[
            "--platform",
            "talon-one",
            "--platform-url",
            talon.url,
            "--platform-key",
            DEFAULT_API_KEY,
        ],
    ).start()
    yield stack
    stack.stop()


@pytest.fixture
def client(
    talon_stack: LocalStackProcess, client_for: Callable[[LocalStackProcess, str], SignedClient]
) -> Iterator[SignedClient]:
    with client_for(talon_stack, "storefront") as signed:
        yield signed


@pytest.fixture
def mail(talon_stack: LocalStackProcess) -> Mailbox:
    return Mailbox(talon_stack.mail_dir)


# ---------------------------------------------------------------- helpers


def card_of(talon: TalonOneServer, number: str) -> Card:
    with talon.app._lock:
        return talon.app.state.cards[number]


def session_moves(talon: TalonOneServer, number: str, session_id: str) -> list[tuple[str, int]]:
    """The card's transactions made by one customer session: (addition | subtraction, amount)."""
    with talon.app._lock:
        card = talon.app.state.cards[number]
        return [(t["type"], t["amount"]) for t in card.transactions if t["customerSessionId"] == session_id]


def session_state(talon: TalonOneServer, session_id: str) -> str:
    with talon.app._lock:
        return talon.app.state.sessions[session_id].state


def joined_card(client: SignedClient, customer_id: str) -> str:
    number: str = summary(client, customer_id)["card"]["number"]
    return number


def points_shown(client: SignedClient, customer_id: str) -> tuple[int, int]:
    points = summary(client, customer_id)["points"]
    return points["balance"], points["redeemable"]


def seed(client: SignedClient, customer_id: str, points: int) -> None:
    answer = client.post(
        "/v1/orders", json=order_body(f"seed-{tag()}", customer_id, [line("SEED", f"{points}.00")])
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["points_earned"] == points


def hold(client: SignedClient, customer_id: str, points: int) -> str:
    held = client.post(
        "/v1/checkout/redemptions",
        json={
            "customer_id": customer_id,
            "cart_id": f"cart-{tag()}",
            "points": points,
            "order_total": "70.00",
        },
    )
    assert held.status_code == 201, held.text
    redemption_id: str = held.json()["redemption_id"]
    return redemption_id


def talon_call(talon: TalonOneServer, method: str, path: str, body: Any) -> dict[str, Any]:
    """A call to the fake's Integration API, as the retailer's other systems make them."""
    answer = httpx.request(
        method,
        talon.url + path,
        json=body,
        headers={"Authorization": f"ApiKey-v1 {DEFAULT_API_KEY}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def store_member(talon: TalonOneServer, email: str, points: int) -> str:
    """An existing member of the retailer's Talon.One program (made in store, not by the
    bridge): a profile, a card, and an in-store purchase that earned ``points``."""
    integration_id = f"store-{uuid.uuid4().hex[:10]}"
    card = fresh_card_number()
    talon_call(
        talon,
        "PUT",
        f"/v2/customer_profiles/{integration_id}",
        {"attributes": {"Email": email, "FirstName": "Store"}},
    )
    talon_call(
        talon,
        "POST",
        f"/v1/loyalty_programs/{PROGRAM_ID}/cards",
        {"status": "active", "customerProfileIds": [integration_id], "cardIdentifier": card},
    )
    purchase = {
        "customerSession": {
            "profileId": integration_id,
            "state": "closed",
            "loyaltyCards": [card],
            "cartItems": [{"sku": "TILL", "name": "In store", "quantity": 1, "price": float(points)}],
        }
    }
    talon_call(talon, "PUT", f"/v2/customer_sessions/till-{uuid.uuid4().hex[:10]}", purchase)
    return card


# ---------------------------------------------------------------- flows


def test_signup_joins_with_a_talon_one_card_and_profile(
    talon_stack: LocalStackProcess, client: SignedClient, talon: TalonOneServer, new_customer: NewCustomer
) -> None:
    body = new_customer()
    created = client.post("/v1/customers", json=body)
    assert created.status_code == 202, created.text
    talon_stack.wait_until_drained()

    def joined() -> dict[str, Any] | None:
        shown = summary(client, body["customer_id"])
        return shown if shown["status"] == "joined" else None

    shown = wait_for(joined, "joined")
    assert shown["card"]["kind"] == "virtual"
    assert (shown["points"]["balance"], shown["points"]["redeemable"]) == (0, 0)

    card = card_of(talon, shown["card"]["number"])
    assert card.status == "active"
    [owner] = [p["integrationId"] for p in card.profiles]
    with talon.app._lock:
        attributes = talon.app.state.profiles[owner]["attributes"]
    assert (attributes["Email"], attributes["FirstName"], attributes["LastName"]) == (
        body["email"],
        "Ann",
        "Lee",
    )
    assert (attributes["EmailOptIn"], attributes["SmsOptIn"]) == (True, False)


def test_a_quote_is_a_dry_run_session_that_changes_nothing(
    talon_stack: LocalStackProcess, client: SignedClient, talon: TalonOneServer, new_customer: NewCustomer
) -> None:
    customer_id = join(client, talon_stack, new_customer)
    number = joined_card(client, customer_id)
    before = len(talon.app.calls("updateCustomerSessionV2"))
    quoted = quote(client, customer_id, BASKET, shipping="4.95")
    assert (quoted["points_to_earn"], quoted["balance"], quoted["joined"]) == (70, 0, True)
    dry = talon.app.calls("updateCustomerSessionV2")[before:]
    assert dry
    assert all(call.path.startswith("/v2/customer_sessions/quote-") for call in dry)
    assert card_of(talon, number).transactions == []  # nothing credited by a quote
    with talon.app._lock:
        assert not [s for s in talon.app.state.sessions if s.startswith("quote-")]


def test_a_hold_lowers_redeemable_in_the_bridge_not_on_talon_one(
    talon_stack: LocalStackProcess, client: SignedClient, talon: TalonOneServer, new_customer: NewCustomer
) -> None:
    customer_id = join(client, talon_stack, new_customer)
    number = joined_card(client, customer_id)
    seed(client, customer_id, 200)
    redemption_id = hold(client, customer_id, 30)
    assert points_shown(client, customer_id) == (200, 170)
    assert card_of(talon, number).active_points == 200  # Talon.One has no holds: the bridge keeps them
    assert client.delete(f"/v1/checkout/redemptions/{redemption_id}").status_code == 204
    assert points_shown(client, customer_id) == (200, 200)
    assert card_of(talon, number).active_points == 200


def test_an_order_is_credited_at_once_by_closing_its_session(
    talon_stack: LocalStackProcess, client: SignedClient, talon: TalonOneServer, new_customer: NewCustomer
) -> None:
    customer_id = join(client, talon_stack, new_customer)
    number = joined_card(client, customer_id)
    order_id = f"o-{tag()}"
    posted = client.post("/v1/orders", json=order_body(order_id, customer_id, BASKET, shipping="4.95"))
    assert posted.status_code == 200, posted.text
    document = posted.json()
    assert (document["status"], document["points_earned"], document["balance"]) == ("credited", 70, 70)
    assert points_shown(client, customer_id) == (70, 70)  # the login summary, at once
    assert session_state(talon, f"order-{order_id}") == "closed"
    assert session_moves(talon, number, f"order-{order_id}") == [("addition", 70)]
    assert card_of(talon, number).active_points == 70


def test_a_partial_refund_returns_the_items_of_the_session(
    talon_stack: LocalStackProcess, client: SignedClient, talon: TalonOneServer, new_customer: NewCustomer
) -> None:
    customer_id = join(client, talon_stack, new_customer)
    number = joined_card(client, customer_id)
    order_id = f"o-{tag()}"
    assert client.post("/v1/orders", json=order_body(order_id, customer_id, BASKET)).status_code == 200
    refund = {"refund_id": f"r-{tag()}", "lines": [{"sku": "SOCKS", "quantity": 2}]}
    refunded = client.post(f"/v1/orders/{order_id}/refunds", json=refund)
    assert refunded.status_code == 200, refunded.text
    # SOCKS earned 20 of the 70 points; two of its four pairs take back 10.
    assert (refunded.json()["points_reversed"], refunded.json()["balance"]) == (10, 60)
    assert points_shown(client, customer_id) == (60, 60)
    assert session_state(talon, f"order-{order_id}") == "partially_returned"
    assert session_moves(talon, number, f"order-{order_id}") == [("addition", 70), ("subtraction", 10)]

    again = client.post(f"/v1/orders/{order_id}/refunds", json=refund)  # the storefront retries
    assert again.status_code == 200, again.text
    assert (again.json()["points_reversed"], again.json()["balance"]) == (10, 60)
    assert session_moves(talon, number, f"order-{order_id}") == [("addition", 70), ("subtraction", 10)]
    returns = [c for c in talon.app.calls("returnCartItems") if order_id in c.path]
    assert {c.idempotency_key for c in returns} == {f"reversal:{order_id}:{refund['refund_id']}"}


def test_a_cancel_takes_back_the_earn_and_gives_back_the_redeemed_points(
    talon_stack: LocalStackProcess, client: SignedClient, talon: TalonOneServer, new_customer: NewCustomer
) -> None:
    customer_id = join(client, talon_stack, new_customer)
    number = joined_card(client, customer_id)
    seed(client, customer_id, 200)
    order_id = f"o-{tag()}"
    spent = client.post(
        "/v1/orders",
        json=order_body(
            order_id, customer_id, BASKET, discount="2.00", redemption_id=hold(client, customer_id, 200)
        ),
    )
    assert spent.status_code == 200, spent.text
    assert (spent.json()["points_earned"], spent.json()["points_redeemed"], spent.json()["balance"]) == (
        68,
        200,
        68,
    )
    assert sorted(session_moves(talon, number, f"order-{order_id}")) == [
        ("addition", 68),
        ("subtraction", 200),
    ]

    cancelled = client.post(f"/v1/orders/{order_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert (
        cancelled.json()["points_reversed"],
        cancelled.json()["points_returned"],
        cancelled.json()["balance"],
    ) == (68, 200, 200)
    assert points_shown(client, customer_id) == (200, 200)
    assert session_state(talon, f"order-{order_id}") == "cancelled"
    assert card_of(talon, number).active_points == 200


def test_a_redelivered_order_credits_once(
    talon_stack: LocalStackProcess, client: SignedClient, talon: TalonOneServer, new_customer: NewCustomer
) -> None:
    customer_id = join(client, talon_stack, new_customer)
    number = joined_card(client, customer_id)
    order_id = f"o-{tag()}"
    session = f"order-{order_id}"
    # Talon.One closes the session but every answer is lost: the order goes to the queue.
    talon.app.inject(
        Fault(kind="status", status=503, after_effect=True, times=10_000, operation="updateCustomerSessionV2")
    )
    try:
        posted = client.post("/v1/orders", json=order_body(order_id, customer_id, BASKET))
        assert posted.status_code == 202, posted.text
        assert (posted.json()["status"], posted.json()["reason"]) == ("queued", "platform_unavailable")
        assert session_moves(talon, number, session) == [("addition", 70)]  # done, answer lost
    finally:
        talon.app.faults.clear()
    talon_stack.wait_until_drained()

    again = client.post("/v1/orders", json=order_body(order_id, customer_id, BASKET))
    assert again.status_code == 200, again.text
    assert (again.json()["status"], again.json()["points_earned"], again.json()["balance"]) == (
        "credited",
        70,
        70,
    )
    # The queue delivers the order's message once more (SQS is at least once).
    record = DynamoCheckoutStore(
        talon_stack.client("dynamodb"), talon_stack.status()["tables"]["BridgeTable"]
    ).get_order(order_id)
    assert record is not None
    talon_stack.client("sqs").send_message(
        QueueUrl=talon_stack.status()["queues"]["OrderQueue"]["url"],
        MessageBody=order_envelope(record).model_dump_json(),
    )
    talon_stack.wait_until_drained()
    assert session_moves(talon, number, session) == [("addition", 70)]  # one credit on Talon.One
    assert points_shown(client, customer_id) == (70, 70)
    assert card_of(talon, number).active_points == 70


def test_an_existing_talon_one_card_is_attached_with_the_emailed_code(
    talon_stack: LocalStackProcess,
    client: SignedClient,
    talon: TalonOneServer,
    mail: Mailbox,
    new_customer: NewCustomer,
) -> None:
    body = new_customer(join=False)
    number = store_member(talon, body["email"], points=120)
    owners_before = card_of(talon, number).profiles
    sign_up(client, body)
    talon_stack.wait_until_drained()
    started = start_attach(client, body["customer_id"], number, body["email"])
    assert started["verification"] == "email_code_sent"
    status, document = confirm_attach(client, body["customer_id"], emailed_code(mail, body["email"]))
    assert status == 200, document
    assert document["status"] == "joined"
    assert document["card"]["number"] == number
    assert (document["points"]["balance"], document["points"]["redeemable"]) == (120, 120)
    assert card_of(talon, number).profiles == owners_before  # the same Talon.One member, not a new one

    order_id = f"o-{tag()}"
    posted = client.post("/v1/orders", json=order_body(order_id, body["customer_id"], BASKET))
    assert posted.status_code == 200, posted.text
    assert posted.json()["balance"] == 190
    assert session_moves(talon, number, f"order-{order_id}") == [("addition", 70)]


# ---------------------------------------------------------------- as make run starts it


def test_make_run_platform_talon_one_starts_the_fake_and_points_the_adapter_at_it(
    tmp_path: Path,
    client_for: Callable[[LocalStackProcess, str], SignedClient],
    new_customer: NewCustomer,
) -> None:
    with LocalStackProcess(
        port=0, state_dir=tmp_path, visibility_seconds=1, extra_args=["--platform", "talon-one"]
    ) as stack:
        platform = stack.platform
        assert (platform["name"], platform["started_here"], platform["program_id"]) == (
            "talon-one",
            True,
            PROGRAM_ID,
        )
        secret = stack.client("secretsmanager").get_secret_value(
            SecretId=stack.status()["secrets"]["PlatformSecret"]
        )
        assert json.loads(secret["SecretString"]) == {"api_key": platform["api_key"]}
        with client_for(stack, "storefront") as client:
            customer_id = join(client, stack, new_customer)
            number = joined_card(client, customer_id)
            posted = client.post("/v1/orders", json=order_body(f"o-{tag()}", customer_id, BASKET))
            assert posted.json()["balance"] == 70, posted.text
        balances = httpx.get(
            f"{platform['url']}/v1/loyalty_programs/{PROGRAM_ID}/cards/{number}/balances",
            headers={"Authorization": f"ApiKey-v1 {platform['api_key']}"},
            timeout=10,
        )
        assert balances.status_code == 200, balances.text
        assert balances.json()["balance"]["activePoints"] == 70

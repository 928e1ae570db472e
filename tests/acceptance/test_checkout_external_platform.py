"""Checkout against an external platform (PLATFORM_ADAPTER=rest) over the local stack:
the fake platform server (tests/fake_rest_platform) on loopback, with faults on demand.

- A platform outage during checkout: the order is accepted (202), queued, and credited
  exactly once by the order worker after the platform comes back (C4, C6).
- What the platform receives for each line follows seed 000, cut on characters: emoji,
  CJK and combining accents count as one character each (C4).
- The login summary (A6) reads the balance the bridge keeps for this platform: an order,
  a hold, its release, a refund and a cancellation show there in the same step (seed 000:
  "their points will update immediately").
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from bridge_local.client import SignedClient
from bridge_local.stack import LocalStackProcess
from loyalty_bridge.models.domain import PlatformOrder
from tests.acceptance.test_checkout_flows import BASKET, join, line, order_body, quote, tag, wait_for
from tests.conftest import Mailbox
from tests.fake_rest_platform import DEFAULT_TOKEN, FakePlatformServer, Fault
from tests.fakes import InMemoryPlatform


@pytest.fixture(scope="module")
def platform_backend() -> InMemoryPlatform:
    return InMemoryPlatform(clock=lambda: datetime.now(UTC))


@pytest.fixture(scope="module")
def fake_platform(platform_backend: InMemoryPlatform) -> Iterator[FakePlatformServer]:
    server = FakePlatformServer(platform_backend, token=DEFAULT_TOKEN).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def rest_stack(
    local_stack_factory: Callable[..., LocalStackProcess], fake_platform: FakePlatformServer
) -> LocalStackProcess:
    stack = local_stack_factory(env={"PLATFORM_ADAPTER": "rest", "PLATFORM_BASE_URL": fake_platform.url})
    secret_arn = stack.status()["secrets"]["PlatformSecret"]
    stack.client("secretsmanager").put_secret_value(
        SecretId=secret_arn, SecretString=json.dumps({"token": DEFAULT_TOKEN})
    )
    return stack


@pytest.fixture
def client(
    rest_stack: LocalStackProcess, client_for: Callable[[LocalStackProcess, str], SignedClient]
) -> Iterator[SignedClient]:
    with client_for(rest_stack, "storefront") as signed:
        yield signed


def posted_orders(backend: InMemoryPlatform, order_id: str) -> list[PlatformOrder]:
    return [
        call["order"]
        for name, call in list(backend.calls)
        if name == "post_order" and call["order"].order_id == order_id
    ]


def test_an_outage_during_checkout_ends_with_the_order_credited_once(
    rest_stack: LocalStackProcess,
    client: SignedClient,
    fake_platform: FakePlatformServer,
    platform_backend: InMemoryPlatform,
    new_customer: Callable[..., dict[str, Any]],
) -> None:
    customer_id = join(client, rest_stack, new_customer)
    order_id = f"o-{uuid.uuid4().hex[:10]}"
    fake_platform.inject(Fault(kind="status", status=503, times=10_000, operation="postOrder"))
    try:
        posted = client.post("/v1/orders", json=order_body(order_id, customer_id, BASKET))
        assert posted.status_code == 202, posted.text
        assert (posted.json()["status"], posted.json()["reason"]) == ("queued", "platform_unavailable")
        assert platform_backend.order_results.get(order_id) is None
    finally:
        fake_platform.faults.clear()  # the platform comes back

    credited = wait_for(lambda: platform_backend.order_results.get(order_id), f"order {order_id} credited")
    rest_stack.wait_until_drained()
    # The 202 put the order on the queue and the order worker took it from there.
    assert rest_stack.status()["functions"]["OrderWorkerFunction"]["invocations"] >= 1
    assert credited.points_earned == 70
    again = client.post("/v1/orders", json=order_body(order_id, customer_id, BASKET))
    assert again.status_code == 200, again.text
    assert (again.json()["status"], again.json()["points_earned"], again.json()["balance"]) == (
        "credited",
        70,
        70,
    )
    assert quote(client, customer_id, [line("PROBE", "0.00")])["balance"] == 70  # credited once
    # Retries carried the same business key: every post of this order was the same write.
    assert {o.order_id for o in posted_orders(platform_backend, order_id)} == {order_id}


def test_multibyte_titles_reach_the_platform_cut_on_characters(
    rest_stack: LocalStackProcess,
    client: SignedClient,
    platform_backend: InMemoryPlatform,
    new_customer: Callable[..., dict[str, Any]],
) -> None:
    customer_id = join(client, rest_stack, new_customer)
    order_id = f"o-{uuid.uuid4().hex[:10]}"
    furniture = (
        "\u5bb6\u5177\u548c\u5bb6\u5c45\u7528\u54c1\u90e8\u95e8\u5927\u5168"  # 11 characters, 33 bytes
    )
    kitchen = "\u53a8\u623f\u7528\u54c1\u548c\u9910\u5177\u7c7b"  # 8 characters
    lines = [
        line(
            "\u5546\u54c1-" + "\u7de8\u53f7" * 12,
            "1.00",
            1,
            "\u6f22\u5b57\u306e\u540d\u524d" * 15,
            [furniture, kitchen, None],
        ),
        line("EMOJI-1", "2.00", 1, "Party pack " + "\U0001f389" * 60, ["\U0001f381" * 12]),
        line(
            "ACCENTS",
            "3.00",
            1,
            "Cre\u0300me bru\u0302le\u0301e " * 6,
            ["Pa\u0302tisserie fine", "Ge\u0301teaux"],
        ),
        line("FAMILY", "4.00", 1, "x" * 48 + "\U0001f468\u200d\U0001f469\u200d\U0001f467 family", []),
    ]
    posted = client.post("/v1/orders", json=order_body(order_id, customer_id, lines))
    assert posted.status_code == 200, posted.text
    [sent] = {o.model_dump_json(): o for o in posted_orders(platform_backend, order_id)}.values()
    cjk, emoji, accents, family = sent.lines
    assert cjk.product_code == ("\u5546\u54c1-" + "\u7de8\u53f7" * 12)[:20]
    assert cjk.title == ("\u6f22\u5b57\u306e\u540d\u524d" * 15)[:50]
    assert (cjk.department, cjk.category, cjk.subcategory) == (furniture[:10], kitchen, None)
    assert emoji.title == ("Party pack " + "\U0001f389" * 60)[:50]
    assert emoji.department == "\U0001f381" * 10
    assert accents.title == ("Cr\u00e8me br\u00fbl\u00e9e " * 6)[:50]  # composed: one character per letter
    assert (accents.department, accents.category) == ("P\u00e2tisserie", "G\u00e9teaux")
    assert family.title == "x" * 48  # the family emoji is not split in half
    for sent_line in sent.lines:
        assert len(sent_line.title) <= 50
        assert len(sent_line.product_code) <= 20
    assert posted.json()["points_earned"] == int(sum((Decimal(ln["unit_price"]) for ln in lines), Decimal(0)))


def test_a_refused_order_lists_the_same_action_its_email_gives(
    rest_stack: LocalStackProcess,
    client: SignedClient,
    fake_platform: FakePlatformServer,
    client_for: Callable[[LocalStackProcess, str], SignedClient],
    mailbox_for: Callable[[LocalStackProcess], Mailbox],
    new_customer: Callable[..., dict[str, Any]],
) -> None:
    """Issue 17 item 3: a New Order Error's action is never empty, and the listing, the
    admin read of the error and its email show one and the same text."""
    customer_id = join(client, rest_stack, new_customer)
    order_id = f"o-{uuid.uuid4().hex[:10]}"
    fake_platform.inject(Fault(kind="refuse", code="product_blocked", field="lines", operation="postOrder"))
    try:
        posted = client.post("/v1/orders", json=order_body(order_id, customer_id, BASKET))
    finally:
        fake_platform.faults.clear()
    assert posted.status_code == 200, posted.text
    assert (posted.json()["status"], posted.json()["reason"]) == ("not_credited", "platform_refused")
    rest_stack.wait_until_drained()

    with client_for(rest_stack, "admin") as admin:
        listed = admin.get("/v1/admin/errors?category=new_order&limit=100")
        assert listed.status_code == 200, listed.text
        [error] = [e for e in listed.json()["errors"] if e["error_id"] == f"new_order:{order_id}"]
        assert error["action"]
        read = admin.get(f"/v1/admin/errors/new_order%3A{order_id}")
        assert read.status_code == 200, read.text
    assert read.json()["action"] == error["action"]
    [mail] = mailbox_for(rest_stack).messages(subject="New Order Errors")[-1:]
    text = Mailbox.text(mail)
    assert f"new_order:{order_id}" in text
    assert f"What to do: {error['action']}" in text


def points_shown(client: SignedClient, customer_id: str) -> dict[str, Any]:
    """The login summary's points (A6), read once: no waiting."""
    answer = client.get(f"/v1/customers/{customer_id}/loyalty")
    assert answer.status_code == 200, answer.text
    points: dict[str, Any] = answer.json()["points"]
    return points


def test_the_login_summary_shows_an_order_at_once(
    rest_stack: LocalStackProcess, client: SignedClient, new_customer: Callable[..., dict[str, Any]]
) -> None:
    customer_id = join(client, rest_stack, new_customer)
    assert points_shown(client, customer_id)["balance"] == 0  # read at the join

    posted = client.post("/v1/orders", json=order_body(f"o-{tag()}", customer_id, BASKET))
    assert posted.status_code == 200, posted.text
    assert (posted.json()["status"], posted.json()["balance"]) == ("credited", 70)

    shown = points_shown(client, customer_id)
    assert (shown["balance"], shown["redeemable"]) == (70, 70)


def test_the_login_summary_follows_holds_refunds_and_cancels(
    rest_stack: LocalStackProcess, client: SignedClient, new_customer: Callable[..., dict[str, Any]]
) -> None:
    customer_id = join(client, rest_stack, new_customer)
    seeded = client.post(
        "/v1/orders", json=order_body(f"seed-{tag()}", customer_id, [line("SEED", "200.00")])
    )
    assert seeded.json()["balance"] == 200, seeded.text

    def hold(points: int) -> str:
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

    kept = hold(30)
    assert (
        points_shown(client, customer_id)["balance"],
        points_shown(client, customer_id)["redeemable"],
    ) == (
        200,
        170,
    )
    assert client.delete(f"/v1/checkout/redemptions/{kept}").status_code == 204
    assert points_shown(client, customer_id)["redeemable"] == 200  # released

    order_id = f"o-{tag()}"
    spent = client.post(
        "/v1/orders",
        json=order_body(order_id, customer_id, BASKET, discount="2.00", redemption_id=hold(200)),
    )
    assert spent.json()["balance"] == 68, spent.text  # 200 - 200 + 68
    assert (
        points_shown(client, customer_id)["balance"],
        points_shown(client, customer_id)["redeemable"],
    ) == (
        68,
        68,
    )

    refunded = client.post(
        f"/v1/orders/{order_id}/refunds",
        json={"refund_id": f"r-{tag()}", "lines": [{"sku": "SOCKS", "quantity": 2}]},
    )
    assert refunded.status_code == 200, refunded.text
    assert points_shown(client, customer_id)["balance"] == refunded.json()["balance"] < 68

    cancelled = client.post(f"/v1/orders/{order_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["balance"] == 200  # the earn taken back, the redeemed points returned
    assert points_shown(client, customer_id)["balance"] == 200

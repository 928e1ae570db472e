"""The login summary on an external platform (PLATFORM_ADAPTER=rest), services as wiring
builds them on template.yaml's resources in moto, the fake platform on loopback.

The summary reads the balance the bridge keeps in BridgeTable (it must not call the platform
at login); every balance change the bridge makes or learns of refreshes it in the same step
(services/balances.py): join, attach, merge, order (in the request and from the order
worker), refund, cancel, hold, release, reward. Issue 17: after an order the summary kept
the balance read at the join.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from loyalty_bridge import wiring
from loyalty_bridge.models.api_checkout import CheckoutLine, OrderRequest, RedemptionRequest, RefundRequest
from loyalty_bridge.models.api_membership import CreateCustomer, PointsView
from loyalty_bridge.models.domain import Consents, Member, MemberProfile, PlatformOrder, PlatformOrderLine
from loyalty_bridge.models.verification import Challenge, Purpose
from loyalty_bridge.settings import Settings
from tests.fake_rest_platform import DEFAULT_TOKEN, FakePlatformServer, Fault
from tests.fakes import InMemoryPlatform
from tests.integration.membership.test_membership_on_aws import drain_membership_queue, sent_mail
from tests.lambda_harness import FakeLambdaContext, load_function

if TYPE_CHECKING:
    from bridge_local.resources import Provisioned

pytestmark = pytest.mark.integration

REWARDS = [
    {"reward_id": "five-off", "name": "5 off", "points": 50, "kind": "fixed_discount", "value": "5.00"}
]


def tag() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture
def backend() -> InMemoryPlatform:
    """The platform behind the fake server: real time (holds expire after the bridge's
    30 minutes), one reward in its catalogue."""
    return InMemoryPlatform(
        Settings(earn_rules_json=json.dumps({"rewards": REWARDS})), clock=lambda: datetime.now(UTC)
    )


@pytest.fixture
def rest_bridge(
    aws: Provisioned, fake_platform: FakePlatformServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Provisioned]:
    secrets: Any = aws.client("secretsmanager")
    secrets.put_secret_value(
        SecretId=aws.secrets["PlatformSecret"], SecretString=json.dumps({"token": DEFAULT_TOKEN})
    )
    monkeypatch.setenv("PLATFORM_ADAPTER", "rest")
    monkeypatch.setenv("PLATFORM_BASE_URL", fake_platform.url)
    wiring.reset()
    yield aws
    wiring.reset()


def signed_up(aws: Provisioned, **fields: Any) -> str:
    """A customer signed up and joined by the membership worker (as on Lambda)."""
    customer_id = f"c-{tag()}"
    body = {"customer_id": customer_id, "email": f"{customer_id}@example.com", "first_name": "Ann", **fields}
    wiring.signup_service().signup(CreateCustomer.model_validate(body))
    worker = load_function("membership_worker")
    assert worker.lambda_handler(drain_membership_queue(aws), FakeLambdaContext()) == {
        "batchItemFailures": []
    }
    return customer_id


def shown(customer_id: str) -> PointsView:
    """What the login summary shows, read once (no waiting, no platform call)."""
    points = wiring.summary_service().summary(customer_id).points
    assert points is not None
    return points


def kept_as_on_the_platform(customer_id: str, backend: InMemoryPlatform) -> None:
    """The bridge keeps exactly what the platform reads now (pending, held, tier, spend),
    not just the point balance a write answered."""
    member_id = member_id_of(customer_id)
    assert wiring.balance_snapshots().get(member_id) == backend.get_balance(member_id)


def member_id_of(customer_id: str) -> str:
    record = wiring.customers().get(customer_id)
    assert record is not None
    assert record.member_id
    return record.member_id


def line(sku: str, price: str, quantity: int = 1) -> CheckoutLine:
    return CheckoutLine(sku=sku, title=sku, quantity=quantity, unit_price=Decimal(price), categories=[])


BASKET = [line("SHIRT", "25.00", 2), line("SOCKS", "5.00", 4)]  # 70 points


def order(customer_id: str, lines: list[CheckoutLine], **extra: Any) -> OrderRequest:
    total = sum((ln.unit_price * ln.quantity for ln in lines), Decimal(0)) - extra.pop("discount", Decimal(0))
    return OrderRequest(
        order_id=f"o-{tag()}",
        customer_id=customer_id,
        placed_at=datetime.now(UTC),
        currency="EUR",
        lines=lines,
        total=total,
        **extra,
    )


def earn_on_the_platform(backend: InMemoryPlatform, member: Member, points: int) -> None:
    """Points the member earned elsewhere (in a store), straight on the platform."""
    backend.post_order(
        member.member_id,
        PlatformOrder(
            order_id=f"store-{tag()}",
            placed_at=datetime.now(UTC),
            currency="EUR",
            lines=[
                PlatformOrderLine(
                    product_code="X", title="X", quantity=1, unit_price=Decimal(points), sku="X"
                )
            ],
            total=Decimal(points),
        ),
    )


def get_balance_calls(fake_platform: FakePlatformServer) -> int:
    return len(fake_platform.calls("getBalance"))


# ---------------------------------------------------------------- membership: join, attach, merge


def test_a_join_keeps_the_balance_and_the_summary_then_reads_only_the_bridge(
    rest_bridge: Provisioned, fake_platform: FakePlatformServer
) -> None:
    customer_id = signed_up(rest_bridge)
    assert wiring.balance_snapshots().get(member_id_of(customer_id)) is not None  # kept at the link
    before = get_balance_calls(fake_platform)

    assert shown(customer_id).balance == 0

    assert get_balance_calls(fake_platform) == before  # the login path does not call the platform


def test_an_attached_card_shows_its_points_at_once(
    rest_bridge: Provisioned, backend: InMemoryPlatform
) -> None:
    email = f"ann-{tag()}@example.com"
    member = backend.create_member(MemberProfile(email=email), Consents(), idempotency_key=tag())
    earn_on_the_platform(backend, member, 120)
    customer_id = f"c-{tag()}"
    wiring.signup_service().signup(CreateCustomer(customer_id=customer_id, email=email, join=False))
    wiring.attach_service().start(customer_id, member.card.number, email)
    [text] = sent_mail(rest_bridge, email)
    code = re.search(r"\b(\d{6})\b", text)
    assert code is not None

    wiring.attach_service().confirm(customer_id, code.group(1))

    assert shown(customer_id).balance == 120
    kept_as_on_the_platform(customer_id, backend)


def test_a_merge_shows_the_merged_points_at_once(rest_bridge: Provisioned, backend: InMemoryPlatform) -> None:
    mobile = "+447700900" + str(uuid.uuid4().int % 1000).zfill(3)
    customer_id = signed_up(rest_bridge, mobile=mobile)
    mine = backend.get_member(member_id_of(customer_id))
    other = backend.create_member(
        MemberProfile(email=f"old-{tag()}@example.com", mobile=mobile), Consents(), idempotency_key=tag()
    )
    earn_on_the_platform(backend, other, 40)
    assert shown(customer_id).balance == 0
    wiring.verification_store().put_challenge(
        Challenge(
            customer_id=customer_id,
            purpose=Purpose.PHONE_VERIFIED,
            expires_at=datetime.now(UTC) + timedelta(minutes=10),
            mobile=mobile,
            member_ids=[mine.member_id, other.member_id],
        )
    )

    wiring.phone_service().merge(customer_id, mine.card.number, [other.card.number])

    assert shown(customer_id).balance == 40
    kept_as_on_the_platform(customer_id, backend)


# ---------------------------------------------------------------- orders: order, refund, cancel


def test_an_order_a_refund_and_a_cancel_show_at_once(
    rest_bridge: Provisioned, backend: InMemoryPlatform
) -> None:
    customer_id = signed_up(rest_bridge)
    assert shown(customer_id).balance == 0
    orders = wiring.order_service()

    placed = orders.place(order(customer_id, BASKET))
    assert (placed.status, placed.balance) == ("credited", 70)
    assert (shown(customer_id).balance, shown(customer_id).redeemable) == (70, 70)
    kept_as_on_the_platform(customer_id, backend)

    refunded = orders.refund(
        placed.order_id,
        RefundRequest.model_validate({"refund_id": f"r-{tag()}", "lines": [{"sku": "SOCKS", "quantity": 2}]}),
    )
    assert refunded.status == "reversed"
    assert shown(customer_id).balance == refunded.balance == 60
    kept_as_on_the_platform(customer_id, backend)

    cancelled = orders.cancel(placed.order_id)
    assert shown(customer_id).balance == cancelled.balance == 0
    kept_as_on_the_platform(customer_id, backend)


def test_an_order_credited_by_the_order_worker_shows_at_once(
    rest_bridge: Provisioned, fake_platform: FakePlatformServer, backend: InMemoryPlatform
) -> None:
    customer_id = signed_up(rest_bridge)
    assert shown(customer_id).balance == 0
    fake_platform.inject(Fault(kind="status", status=503, times=10_000, operation="postOrder"))
    try:
        queued = wiring.order_service().place(order(customer_id, BASKET))
    finally:
        fake_platform.faults.clear()
    assert queued.status == "queued"
    sqs = rest_bridge.client("sqs")
    [message] = sqs.receive_message(QueueUrl=rest_bridge.queues["OrderQueue"].url, MaxNumberOfMessages=10)[
        "Messages"
    ]
    event = {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:OrderQueue",
                "awsRegion": "us-east-1",
            }
        ]
    }

    assert load_function("order_worker").lambda_handler(event, FakeLambdaContext()) == {
        "batchItemFailures": []
    }

    assert shown(customer_id).balance == 70
    kept_as_on_the_platform(customer_id, backend)


def test_when_the_balance_cannot_be_read_the_summary_shows_the_orders_answer(
    rest_bridge: Provisioned, fake_platform: FakePlatformServer
) -> None:
    customer_id = signed_up(rest_bridge)
    assert shown(customer_id).balance == 0
    fake_platform.inject(Fault(kind="refuse", times=1, operation="getBalance"))

    placed = wiring.order_service().place(order(customer_id, BASKET))

    assert (placed.status, placed.balance) == ("credited", 70)  # the order stands
    assert shown(customer_id).balance == 70


# ---------------------------------------------------------------- holds (C2) and rewards (R4)


def test_a_hold_and_its_release_show_at_once(rest_bridge: Provisioned, backend: InMemoryPlatform) -> None:
    customer_id = signed_up(rest_bridge)
    wiring.order_service().place(order(customer_id, [line("SEED", "200.00")]))
    checkout = wiring.checkout_service()

    held = checkout.hold(
        RedemptionRequest(
            customer_id=customer_id, cart_id=f"cart-{tag()}", points=30, order_total=Decimal("70")
        )
    )
    assert (shown(customer_id).balance, shown(customer_id).redeemable) == (200, 170)
    kept_as_on_the_platform(customer_id, backend)

    checkout.release(held.redemption_id)
    assert shown(customer_id).redeemable == 200
    kept_as_on_the_platform(customer_id, backend)


def test_an_order_spending_a_hold_then_its_refund_and_cancel_show_at_once(
    rest_bridge: Provisioned, backend: InMemoryPlatform
) -> None:
    """A discounted order: the spend its refund takes back is split over the items (lifetime
    spend with many decimals), which the platform's balance carries too."""
    customer_id = signed_up(rest_bridge)
    wiring.order_service().place(order(customer_id, [line("SEED", "200.00")]))
    held = wiring.checkout_service().hold(
        RedemptionRequest(
            customer_id=customer_id, cart_id=f"cart-{tag()}", points=200, order_total=Decimal("70")
        )
    )
    assert shown(customer_id).redeemable == 0

    spent = wiring.order_service().place(
        order(customer_id, BASKET, discount=Decimal("2.00"), redemption_id=held.redemption_id)
    )

    assert spent.balance == 68  # 200 - 200 + 68
    assert (shown(customer_id).balance, shown(customer_id).redeemable) == (68, 68)
    kept_as_on_the_platform(customer_id, backend)

    orders = wiring.order_service()
    refund = RefundRequest.model_validate(
        {"refund_id": f"r-{tag()}", "lines": [{"sku": "SOCKS", "quantity": 1}]}
    )
    refunded = orders.refund(spent.order_id, refund)
    assert shown(customer_id).balance == refunded.balance
    kept_as_on_the_platform(customer_id, backend)

    cancelled = orders.cancel(spent.order_id)
    assert shown(customer_id).balance == cancelled.balance == 200
    kept_as_on_the_platform(customer_id, backend)


def test_a_reward_shows_at_once(rest_bridge: Provisioned, backend: InMemoryPlatform) -> None:
    customer_id = signed_up(rest_bridge)
    wiring.order_service().place(order(customer_id, [line("SEED", "80.00")]))

    coupon = wiring.rewards_service().redeem(customer_id, "five-off", request_key=tag())

    assert coupon.points == 50
    assert shown(customer_id).balance == 30
    kept_as_on_the_platform(customer_id, backend)

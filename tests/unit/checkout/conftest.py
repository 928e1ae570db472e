"""Checkout unit fixtures: the services over in-memory fakes sharing one movable clock."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from loyalty_bridge.models.api_checkout import CheckoutLine, OrderRequest
from loyalty_bridge.models.domain import Consents, LoyaltyStatus, MemberProfile
from loyalty_bridge.models.records import CustomerRecord
from loyalty_bridge.program.earn_rules import FixedProgram
from loyalty_bridge.services.checkout import CheckoutService
from loyalty_bridge.services.incidents import IncidentReporter
from loyalty_bridge.services.orders import OrderService
from loyalty_bridge.settings import Settings
from tests.fakes import (
    CapturingMailer,
    FakeClock,
    InMemoryCheckoutStore,
    InMemoryCustomers,
    InMemoryErrorStore,
    InMemoryPlatform,
    InMemoryQueue,
    RecordingMetrics,
)


@dataclass
class Shop:
    """Everything a checkout test touches."""

    settings: Settings
    clock: FakeClock
    platform: InMemoryPlatform
    customers: InMemoryCustomers
    store: InMemoryCheckoutStore
    queue: InMemoryQueue
    error_store: InMemoryErrorStore
    mailer: CapturingMailer
    metrics: RecordingMetrics
    checkout: CheckoutService
    orders: OrderService
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def customer(
        self, customer_id: str = "c-1", *, status: LoyaltyStatus = LoyaltyStatus.JOINED
    ) -> CustomerRecord:
        """A web customer; joined ones get a member on the platform."""
        record = CustomerRecord(customer_id=customer_id, email=f"{customer_id}@example.com", status=status)
        if status == LoyaltyStatus.JOINED:
            member = self.platform.create_member(
                MemberProfile(email=record.email), Consents(), idempotency_key=f"signup:{customer_id}"
            )
            record = record.model_copy(
                update={"member_id": member.member_id, "card_number": member.card.number}
            )
        self.customers.create(record)
        return record

    def give_points(self, customer_id: str, points: int) -> None:
        """Credit ``points`` with an order (default rule: 1 point per whole currency unit)."""
        self.orders.place(order(f"seed-{next(self._ids)}", customer_id, [line("SEED", Decimal(points))]))

    def balance(self, customer_id: str) -> int:
        member_id = self.customers.get(customer_id).member_id  # type: ignore[union-attr]
        return self.platform.get_balance(member_id or "").balance

    def available(self, customer_id: str) -> int:
        member_id = self.customers.get(customer_id).member_id  # type: ignore[union-attr]
        return self.platform.get_balance(member_id or "").available


def line(
    sku: str = "SKU-1",
    price: Decimal | str = "10.00",
    quantity: int = 1,
    title: str = "A thing",
    categories: list[str | None] | None = None,
) -> CheckoutLine:
    return CheckoutLine(
        sku=sku, title=title, quantity=quantity, unit_price=Decimal(price), categories=categories or []
    )


def order(
    order_id: str,
    customer_id: str | None,
    lines: list[CheckoutLine],
    *,
    shipping: Decimal = Decimal("0"),
    discount: Decimal = Decimal("0"),
    promo_code: str | None = None,
    redemption_id: str | None = None,
    placed_at: datetime | None = None,
    currency: str = "EUR",
) -> OrderRequest:
    subtotal = sum((ln.unit_price * ln.quantity for ln in lines), Decimal(0))
    return OrderRequest(
        order_id=order_id,
        customer_id=customer_id,
        placed_at=placed_at or datetime(2025, 1, 15, 11, 59, tzinfo=UTC),
        currency=currency,
        lines=lines,
        shipping=shipping,
        total=subtotal + shipping - discount,
        promo_code=promo_code,
        redemption_id=redemption_id,
    )


def build_shop(settings: Settings | None = None, *, platform: InMemoryPlatform | None = None) -> Shop:
    settings = settings or Settings(admin_emails=("admin@example.com",), notify_admins=True)
    clock = FakeClock()
    platform = platform or InMemoryPlatform(settings, clock=clock)
    platform.clock = clock
    customers = InMemoryCustomers()
    store = InMemoryCheckoutStore()
    queue = InMemoryQueue()
    error_store = InMemoryErrorStore()
    mailer = CapturingMailer()
    metrics = RecordingMetrics()
    program = FixedProgram(platform.rules)  # R10: the services refuse other currencies up front
    checkout = CheckoutService(
        platform=platform,
        customers=customers,
        store=store,
        settings=settings,
        metrics=metrics,
        clock=clock,
        program=program,
    )
    orders = OrderService(
        platform=platform,
        customers=customers,
        store=store,
        queue=queue,
        incidents=IncidentReporter(error_store, mailer, settings, metrics=metrics),
        settings=settings,
        metrics=metrics,
        clock=clock,
        deadline_seconds=30.0,
        program=program,
    )
    return Shop(
        settings, clock, platform, customers, store, queue, error_store, mailer, metrics, checkout, orders
    )


@pytest.fixture
def shop() -> Shop:
    return build_shop()

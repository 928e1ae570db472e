"""Stores and staff (R6) on template.yaml's BridgeTable in moto: the registry's writes,
listing pages, the one-read lookup, and what the check costs an order (nothing when the
order names no store, one BatchGetItem when it does)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from loyalty_bridge import errors, wiring
from loyalty_bridge.models.api_checkout import CheckoutLine, OrderRequest
from loyalty_bridge.models.domain import Channel, Consents, LoyaltyStatus, MemberProfile
from loyalty_bridge.models.records import CustomerRecord
from loyalty_bridge.models.stores import PutStaff, PutStore, StaffRole

if TYPE_CHECKING:
    from bridge_local.resources import Provisioned

pytestmark = pytest.mark.integration


def tag() -> str:
    return uuid.uuid4().hex[:10]


def joined_customer() -> str:
    customer_id = f"c-{tag()}"
    email = f"{customer_id}@example.com"
    member = wiring.platform().create_member(
        MemberProfile(email=email), Consents(), idempotency_key=customer_id
    )
    wiring.customers().create(
        CustomerRecord(
            customer_id=customer_id,
            email=email,
            status=LoyaltyStatus.JOINED,
            member_id=member.member_id,
            card_number=member.card.number,
        )
    )
    return customer_id


def order(customer_id: str, store_id: str | None = None, staff_id: str | None = None) -> OrderRequest:
    return OrderRequest(
        order_id=f"o-{tag()}",
        customer_id=customer_id,
        placed_at=datetime.now(UTC),
        currency="EUR",
        channel=Channel.STORE if store_id else Channel.WEBSHOP,
        store_id=store_id,
        staff_id=staff_id,
        lines=[CheckoutLine(sku="A", quantity=1, unit_price=Decimal("10"))],
        total=Decimal("10"),
    )


class DirectoryCalls:
    """DynamoDB calls that touch the store directory's items."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        if "DIRECTORY#" in json.dumps(params, default=str):
            self.calls.append(model.name)


def test_the_registry_writes_lists_and_looks_up_in_one_read(aws: Provisioned) -> None:
    directory = wiring.store_directory()
    registry = wiring.store_registry()
    assert registry.lookup("S1", "ann").any_store is False
    with pytest.raises(errors.UnknownStore):
        directory.put_staff("ann", PutStaff(name="Ann", store_id="S1", role=StaffRole.CASHIER))
    for number in range(3):
        directory.put_store(f"S{number}", PutStore(name=f"Store {number}", channel=Channel.STORE))
    directory.put_store("S1", PutStore(name="Renamed", channel=Channel.WEBSHOP))  # a change, not a second
    directory.put_staff("ann", PutStaff(name="Ann", store_id="S1", role=StaffRole.CASHIER))

    first = directory.stores(limit=2, cursor=None)
    assert [s.store_id for s in first.stores] == ["S0", "S1"]
    assert first.next_cursor is not None
    rest = directory.stores(limit=2, cursor=first.next_cursor)
    assert [s.store_id for s in rest.stores] == ["S2"]
    assert first.stores[1].name == "Renamed"
    assert [s.staff_id for s in directory.staff(limit=10, cursor=None).staff] == ["ann"]

    found = registry.lookup("S1", "ann")
    assert found.any_store is True
    assert found.store is not None
    assert found.store.channel is Channel.WEBSHOP
    assert found.staff is not None
    assert found.staff.store_id == "S1"
    assert registry.lookup("S9", "bob").store is None


def test_an_order_naming_no_store_makes_no_directory_call_one_naming_one_makes_one(aws: Provisioned) -> None:
    customer_id = joined_customer()
    wiring.store_directory().put_store("S1", PutStore(name="High Street", channel=Channel.STORE))
    wiring.store_directory().put_staff("ann", PutStaff(name="Ann", store_id="S1", role=StaffRole.CASHIER))
    orders = wiring.order_service()
    counter = DirectoryCalls()
    dynamodb = wiring.aws_client("dynamodb")
    dynamodb.meta.events.register("provide-client-params.dynamodb", counter)
    try:
        assert orders.place(order(customer_id)).status == "credited"
        assert counter.calls == []
        assert orders.place(order(customer_id, "S1", "ann")).status == "credited"
        assert counter.calls == ["BatchGetItem"]
        counter.calls.clear()
        refused = order(customer_id, "S2", "ann")
        with pytest.raises(errors.UnknownStore):
            orders.place(refused)
        assert counter.calls == ["BatchGetItem"]
    finally:
        dynamodb.meta.events.unregister("provide-client-params.dynamodb", counter)
    assert wiring.checkout_store().get_order(refused.order_id) is None

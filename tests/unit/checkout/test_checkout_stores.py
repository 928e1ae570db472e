"""Stores and staff (R6): once a store is registered, orders and quotes naming an unknown
store, or a staff user of another store, are refused (422 unknown_store / unknown_staff)
and change nothing; with no store registered, everything goes through as before."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from types import ModuleType
from typing import Any

import pytest

from loyalty_bridge import errors, wiring
from loyalty_bridge.models.api_checkout import QuoteRequest
from loyalty_bridge.models.domain import Channel
from loyalty_bridge.models.stores import PutStaff, PutStore, StaffRole
from loyalty_bridge.services.checkout import CheckoutService
from loyalty_bridge.services.orders import OrderService
from loyalty_bridge.services.stores import StoreDirectory
from loyalty_bridge.signing import StaticSigningKeys
from tests.fake_core import InMemoryIdempotencyStore
from tests.fakes import InMemoryStoreRegistry
from tests.lambda_harness import FakeLambdaContext, load_function, signed_http_event
from tests.unit.checkout.conftest import Shop, build_shop, line, order


class Stores:
    def __init__(self) -> None:
        self.registry = InMemoryStoreRegistry()
        self.directory = StoreDirectory(self.registry)

    def register(self) -> None:
        self.directory.put_store("S1", PutStore(name="High Street", channel=Channel.STORE))
        self.directory.put_store("S2", PutStore(name="Station", channel=Channel.STORE))
        self.directory.put_staff("ann", PutStaff(name="Ann", store_id="S1", role=StaffRole.CASHIER))
        self.directory.put_staff("hq", PutStaff(name="Support", role=StaffRole.SUPPORT))


@pytest.fixture
def stores() -> Stores:
    return Stores()


@pytest.fixture
def checked_shop(stores: Stores) -> Shop:
    shop = build_shop()
    shop.orders = OrderService(
        platform=shop.platform,
        customers=shop.customers,
        store=shop.store,
        queue=shop.queue,
        incidents=shop.orders._incidents,
        settings=shop.settings,
        metrics=shop.metrics,
        clock=shop.clock,
        deadline_seconds=30.0,
        stores=stores.directory,
    )
    shop.checkout = CheckoutService(
        platform=shop.platform,
        customers=shop.customers,
        store=shop.store,
        settings=shop.settings,
        metrics=shop.metrics,
        clock=shop.clock,
        stores=stores.directory,
    )
    return shop


def at_store(order_id: str, store_id: str | None, staff_id: str | None = None) -> Any:
    request = order(order_id, "c-1", [line("A", Decimal("20.00"))])
    return request.model_copy(update={"channel": Channel.STORE, "store_id": store_id, "staff_id": staff_id})


def test_with_no_store_registered_orders_at_any_store_are_credited(checked_shop: Shop) -> None:
    checked_shop.customer("c-1")
    answer = checked_shop.orders.place(at_store("o-1", "S9", "nobody"))
    assert (answer.status, answer.points_earned) == ("credited", 20)


def test_an_order_at_an_unknown_store_is_refused_and_changes_nothing(
    checked_shop: Shop, stores: Stores
) -> None:
    checked_shop.customer("c-1")
    stores.register()
    with pytest.raises(errors.UnknownStore) as refused:
        checked_shop.orders.place(at_store("o-1", "S9"))
    assert refused.value.code == "unknown_store"
    assert checked_shop.store.get_order("o-1") is None
    assert checked_shop.balance("c-1") == 0
    assert checked_shop.queue.messages == []
    assert [name for name, _ in checked_shop.platform.calls if name == "post_order"] == []


def test_staff_of_another_store_or_unknown_staff_is_refused(checked_shop: Shop, stores: Stores) -> None:
    checked_shop.customer("c-1")
    stores.register()
    for order_id, staff_id in (("o-1", "ann"), ("o-2", "nobody")):
        with pytest.raises(errors.UnknownStaff) as refused:
            checked_shop.orders.place(at_store(order_id, "S2", staff_id))
        assert refused.value.code == "unknown_staff"
        assert checked_shop.store.get_order(order_id) is None
    assert checked_shop.balance("c-1") == 0
    # Ann at her own store, and head-office support anywhere, are fine.
    assert checked_shop.orders.place(at_store("o-3", "S1", "ann")).status == "credited"
    assert checked_shop.orders.place(at_store("o-4", "S2", "hq")).status == "credited"
    assert checked_shop.balance("c-1") == 40


def test_an_order_naming_no_store_costs_no_directory_read(checked_shop: Shop, stores: Stores) -> None:
    checked_shop.customer("c-1")
    stores.register()
    checked_shop.orders.place(order("o-1", "c-1", [line("A", Decimal("5"))]))
    assert stores.registry.lookups == 0
    checked_shop.orders.place(at_store("o-2", "S1", "ann"))
    assert stores.registry.lookups == 1


def test_a_quote_at_an_unknown_store_or_by_staff_of_another_store_is_refused(
    checked_shop: Shop, stores: Stores
) -> None:
    checked_shop.customer("c-1")
    stores.register()

    def quote(store_id: str, staff_id: str | None = None) -> Any:
        return checked_shop.checkout.quote(
            QuoteRequest(
                customer_id="c-1",
                currency="EUR",
                lines=[line("A", Decimal("10"))],
                channel=Channel.STORE,
                store_id=store_id,
                staff_id=staff_id,
            )
        )

    with pytest.raises(errors.UnknownStore):
        quote("S9")
    with pytest.raises(errors.UnknownStaff):
        quote("S2", "ann")
    assert quote("S1", "ann").points_to_earn == 10


def test_a_staff_user_must_name_a_registered_store(stores: Stores) -> None:
    with pytest.raises(errors.UnknownStore):
        stores.directory.put_staff("bob", PutStaff(name="Bob", store_id="S1", role=StaffRole.MANAGER))
    assert stores.registry.staff == {}


# ---------------------------------------------------------------- over the routes

KEY_ID, SECRET = "admin-1", "not-a-real-secret"


@pytest.fixture
def apis(
    checked_shop: Shop, stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, ModuleType]]:
    wiring.reset()
    keys = StaticSigningKeys({KEY_ID: (SECRET, "admin"), "shop-1": (SECRET, "storefront")})
    admin = load_function("admin_api")
    checkout = load_function("checkout_api")
    for module in (admin, checkout):
        monkeypatch.setattr(module.app, "signing_keys", keys)
        monkeypatch.setattr(module.app, "idempotency_store", InMemoryIdempotencyStore())
    monkeypatch.setattr(admin, "services", admin.Services(store_directory=stores.directory))
    monkeypatch.setattr(
        checkout, "services", checkout.Services(checkout=checked_shop.checkout, orders=checked_shop.orders)
    )
    yield {"admin": admin, "checkout": checkout}
    wiring.reset()


def call(
    api: ModuleType, method: str, path: str, body: Any = None, *, key_id: str = KEY_ID, query: str = ""
) -> Any:
    key = f"k-{method}-{path}-{json.dumps(body, sort_keys=True)}"[:200].replace(" ", "")
    event = signed_http_event(
        method,
        path,
        key_id=key_id,
        secret=SECRET,
        body=body,
        query=query,
        idempotency_key=key if method in ("PUT", "POST") else None,
    )
    result = api.lambda_handler(event, FakeLambdaContext())
    return int(result["statusCode"]), json.loads(result.get("body") or "null")


def test_admin_registers_and_lists_stores_and_staff(apis: dict[str, ModuleType]) -> None:
    admin = apis["admin"]
    status, store = call(admin, "PUT", "/v1/admin/stores/S1", {"name": "High Street", "channel": "store"})
    assert status == 200, store
    assert (store["store_id"], store["name"], store["channel"]) == ("S1", "High Street", "store")
    status, staff = call(
        admin, "PUT", "/v1/admin/staff/ann", {"name": "Ann", "store_id": "S1", "role": "cashier"}
    )
    assert status == 200, staff
    status, refused = call(
        admin, "PUT", "/v1/admin/staff/bob", {"name": "Bob", "store_id": "S7", "role": "manager"}
    )
    assert (status, refused["code"]) == (422, "unknown_store")
    status, bad_role = call(admin, "PUT", "/v1/admin/staff/bob", {"name": "Bob", "role": "owner"})
    assert (status, bad_role["code"]) == (422, "validation_failed")
    assert call(admin, "GET", "/v1/admin/stores")[1]["stores"] == [store]
    assert call(admin, "GET", "/v1/admin/staff")[1]["staff"] == [staff]
    status, forbidden = call(admin, "GET", "/v1/admin/stores", key_id="shop-1")
    assert (status, forbidden["code"]) == (403, "forbidden")


def test_an_order_at_an_unknown_store_is_a_422_problem(
    apis: dict[str, ModuleType], checked_shop: Shop
) -> None:
    checked_shop.customer("c-1")
    call(apis["admin"], "PUT", "/v1/admin/stores/S1", {"name": "High Street", "channel": "store"})
    body = at_store("o-1", "S9").model_dump(mode="json")
    status, problem = call(apis["checkout"], "POST", "/v1/orders", body, key_id="shop-1")
    assert status == 422
    assert (problem["code"], problem["title"]) == ("unknown_store", "Unknown store")
    assert checked_shop.store.get_order("o-1") is None

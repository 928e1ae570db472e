"""The one way API handlers take their services (loyalty_bridge.handler_services): what a test
hands in is used, the rest is built by wiring on first use, and a misspelt name is refused
(a fake that silently went unused would let the test reach AWS)."""

from __future__ import annotations

import pytest

from loyalty_bridge.handler_services import HandlerServices, Wired

built: list[str] = []


def build_orders() -> str:
    built.append("orders")
    return "wired orders"


class Services(HandlerServices):
    orders = Wired(build_orders)
    checkout = Wired(lambda: "wired checkout")


def test_a_given_service_is_used_and_nothing_is_built_for_it() -> None:
    built.clear()
    services = Services(orders="fake orders")

    assert services.orders == "fake orders"
    assert built == []


def test_what_a_test_leaves_out_comes_from_wiring_on_first_use() -> None:
    built.clear()
    services = Services(orders=None)
    assert built == []  # nothing at construction (no I/O at import or set-up)

    assert (services.orders, services.checkout) == ("wired orders", "wired checkout")
    assert built == ["orders"]


def test_an_unknown_service_name_is_refused() -> None:
    with pytest.raises(TypeError, match="order_service"):
        Services(order_service="fake")

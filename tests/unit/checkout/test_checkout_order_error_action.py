"""Issue 17 item 3: a New Order Error says what to do in the listing, as its email does
(one source for both)."""

from __future__ import annotations

from loyalty_bridge import errors
from loyalty_bridge.models.records import DEFAULT_ACTION, ErrorCategory
from loyalty_bridge.services.admin import error_view
from tests.unit.checkout.conftest import Shop, line, order


def test_a_refused_order_lists_the_action_its_email_gives(shop: Shop) -> None:
    shop.customer("c-1")
    shop.platform.fail_next("post_order", errors.PlatformRefused("product blocked", code="product_blocked"))

    shop.orders.place(order("o-1", "c-1", [line("SHIRT", "25.00", 2, title="Shirt")]))

    [incident] = shop.error_store.records.values()
    assert incident.category == ErrorCategory.NEW_ORDER
    listed = error_view(incident).action
    assert listed == DEFAULT_ACTION[ErrorCategory.NEW_ORDER]
    [mail] = shop.mailer.sent
    assert f"What to do: {listed}" in mail.text

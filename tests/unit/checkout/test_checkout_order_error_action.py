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


def test_an_order_of_a_blocked_card_is_not_credited_and_says_replace_then_replay(shop: Shop) -> None:
    """A10: the customer's own purchase is kept; credited on the new card after a replay."""
    record = shop.customer("c-1")
    shop.platform.block_card(record.card_number or "", reason="lost", idempotency_key="b-1")

    answer = shop.orders.place(order("o-1", "c-1", [line("SHIRT", "25.00", 2, title="Shirt")]))

    assert (answer.status, answer.reason, answer.points_earned) == ("not_credited", "card_blocked", 0)
    [incident] = shop.error_store.records.values()
    assert "Replace the card" in error_view(incident).action
    assert shop.balance("c-1") == 0

"""One program currency (R10): a quote, hold or order in another currency is refused with
422 currency_not_supported and changes nothing, unless the program lists a rate for it:
then amounts are converted before earning (the rate recorded on the entry) and discounts
are answered in the order's currency."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from loyalty_bridge import errors
from loyalty_bridge.http_errors import status_for
from loyalty_bridge.models.api_checkout import QuoteRequest, RedemptionRequest
from loyalty_bridge.program.earn_rules import ProgramRules
from loyalty_bridge.program.orders import order_entry_id
from loyalty_bridge.settings import Settings
from tests.unit.checkout.conftest import Shop, build_shop, line, order

GBP = {"currency": "GBP", "rules": [{"kind": "spend", "points": 1, "per": 1}]}


def gbp_shop(**extra: object) -> Shop:
    shop = build_shop(Settings(earn_rules_json=json.dumps({**GBP, **extra})))
    shop.customer("c-1")
    return shop


def quote_request(currency: str, price: str = "100.00", redeem: int = 0) -> QuoteRequest:
    return QuoteRequest(customer_id="c-1", currency=currency, lines=[line("X", price)], redeem_points=redeem)


def test_an_eur_order_on_a_gbp_program_is_refused_422_and_changes_nothing() -> None:
    shop = gbp_shop()
    before = (shop.balance("c-1"), len(shop.platform.ledger), shop.store.get_order("o-eur"))

    with pytest.raises(errors.CurrencyNotSupported) as refused:
        shop.orders.place(order("o-eur", "c-1", [line("X", "100.00")], currency="EUR"))

    assert status_for(refused.value) == (422, "Currency not supported")
    assert refused.value.code == "currency_not_supported"
    assert (shop.balance("c-1"), len(shop.platform.ledger), shop.store.get_order("o-eur")) == before
    assert shop.queue.messages == []


def test_an_eur_quote_and_hold_on_a_gbp_program_are_refused() -> None:
    shop = gbp_shop()
    shop.orders.place(order("o-gbp", "c-1", [line("X", "500.00")], currency="GBP"))

    with pytest.raises(errors.CurrencyNotSupported):
        shop.checkout.quote(quote_request("EUR"))
    with pytest.raises(errors.CurrencyNotSupported):
        shop.checkout.hold(
            RedemptionRequest(
                customer_id="c-1", cart_id="c", points=10, order_total=Decimal(50), currency="EUR"
            )
        )
    assert shop.available("c-1") == 500  # nothing held
    assert shop.checkout.quote(quote_request("GBP")).points_to_earn == 100


def test_with_an_eur_rate_an_eur_order_is_converted_before_earning_and_the_rate_recorded() -> None:
    shop = gbp_shop(exchange_rates={"EUR": "0.85"})

    quoted = shop.checkout.quote(quote_request("EUR"))
    placed = shop.orders.place(order("o-eur", "c-1", [line("X", "100.00")], currency="EUR"))

    assert quoted.points_to_earn == placed.points_earned == 85  # 100 EUR = 85 GBP
    entry = shop.platform.ledger[order_entry_id("o-eur")]
    assert entry.exchange_rate == Decimal("0.85")


def test_discounts_are_answered_in_the_orders_currency() -> None:
    shop = gbp_shop(exchange_rates={"EUR": "0.5"}, point_value="0.01")
    shop.orders.place(order("seed", "c-1", [line("X", "1000.00")], currency="GBP"))

    quoted = shop.checkout.quote(quote_request("EUR", redeem=400))
    held = shop.checkout.hold(
        RedemptionRequest(
            customer_id="c-1", cart_id="c", points=400, order_total=Decimal(100), currency="EUR"
        )
    )

    # 400 points are worth 4.00 GBP = 8.00 EUR; at most half of 100 EUR (50 GBP): 2500 points.
    assert (quoted.discount, held.discount) == (Decimal("8.00"), Decimal("8.00"))
    assert quoted.redeemable_points == 1000  # the balance, under the share


def test_exchange_rates_are_validated() -> None:
    with pytest.raises(ValueError, match="other currencies"):
        ProgramRules.model_validate({**GBP, "exchange_rates": {"GBP": "1"}})
    with pytest.raises(ValueError, match="greater than 0"):
        ProgramRules.model_validate({**GBP, "exchange_rates": {"EUR": "0"}})
    with pytest.raises(ValueError, match="pattern"):
        ProgramRules.model_validate({**GBP, "exchange_rates": {"euro": "1.1"}})

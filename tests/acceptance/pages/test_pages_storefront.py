"""The demo storefront in a browser: sign up, see the loyalty account, fill a cart, see the
points preview, pay with points, place orders, refund a line, read the history. Every
figure on a page is compared with what the API answers for the same customer (a signed
client reads it), and no page carries a signing secret."""

from __future__ import annotations

import uuid
from typing import Any

from bridge_local.client import SignedClient
from bridge_local.stack import LocalStackProcess
from tests.acceptance.pages.browser import Browser


def no_secret_in(browser: Browser, stack: LocalStackProcess) -> None:
    source = browser.driver.page_source
    for key in stack.keys:
        assert key.secret not in source


def sign_up(browser: Browser, stack: LocalStackProcess) -> str:
    email = f"ann.{uuid.uuid4().hex[:10]}@example.com"
    browser.open("/demo/")
    browser.submit(
        "#signup", {"first_name": "Ann", "last_name": "Lee", "email": email, "password": "correct-horse"}
    )
    customer_id = browser.text("customer-id")
    stack.wait_until_drained()
    browser.wait_for("joined", lambda: browser.text("loyalty-status") == "joined", reload=True)
    return customer_id


def home_matches(browser: Browser, summary: dict[str, Any], program: dict[str, Any]) -> None:
    points = summary["points"]
    assert browser.number("points-balance") == points["balance"]
    assert browser.number("points-redeemable") == points["redeemable"]
    assert browser.number("points-pending") == points["pending"]
    assert browser.text("card-number") == summary["card"]["number"]
    assert browser.text("tier-name") == summary["tier"]["name"]
    assert browser.text("tier-next") == summary["tier"]["next"]
    assert browser.text("tier-spend-to-next") == summary["tier"]["spend_to_next"]
    reward = summary["next_reward"]
    assert browser.text("reward-name") == reward["name"]
    assert browser.number("reward-points-needed") == reward["points_needed"]
    assert float(browser.find("#reward-progress").get_attribute("value") or "-1") == reward["progress"]
    assert browser.text("referral-link") == (summary["referral"].get("link") or summary["referral"]["code"])
    if points.get("next_expiry"):
        assert browser.number("next-expiry-points") == points["next_expiry"]["points"]
        assert browser.text("next-expiry-on") == points["next_expiry"]["on"]
    else:
        assert not browser.all("#next-expiry-on")
    ways = [li.text for li in browser.all("#ways-to-earn li.way-to-earn")]
    assert ways == [way["description"] for way in program["ways_to_earn"]]
    assert ways


def add_to_cart(browser: Browser, *skus: str) -> None:
    for sku in skus:
        browser.open("/demo/cart")
        browser.click(f"button[name='add-{sku}']")


def basket(browser: Browser, customer_id: str, **extra: Any) -> dict[str, Any]:
    """The basket the cart page shows, as the storefront sends it to the quote."""
    skus = {
        row.get_attribute("name").removeprefix("qty-"): row.get_attribute("value")
        for row in browser.all("#cart-form input[name^='qty-']")
    }
    catalogue = {
        "COFFEE-1": ("12.50", ["Food", "Coffee"]),
        "HOSE-25": ("29.90", ["Garden", "Watering", "Hoses"]),
        "MUG-1": ("8.00", ["Home", "Kitchen"]),
        "TEE-1": ("19.00", ["Clothing", "Tops"]),
    }
    lines = [
        {
            "sku": sku,
            "quantity": int(qty or 0),
            "unit_price": catalogue[sku][0],
            "categories": catalogue[sku][1],
        }
        for sku, qty in sorted(skus.items())
    ]
    return {"customer_id": customer_id, "currency": "EUR", "lines": lines, "shipping": "4.95", **extra}


def quote_matches(browser: Browser, quote: dict[str, Any]) -> None:
    assert browser.number("quote-points-to-earn") == quote["points_to_earn"]
    assert browser.number("quote-balance") == quote["balance"]
    assert browser.number("quote-redeemable") == quote["redeemable_points"]
    assert browser.text("quote-max-discount") == quote["max_discount"]
    assert browser.number("quote-redeem-points") == quote["redeem_points"]
    assert browser.text("quote-discount") == quote["discount"]


def update_cart(browser: Browser, *, promo: str, redeem: str, points: str = "0") -> None:
    browser.open("/demo/cart")
    browser.fill("#cart-form", {"promo_code": promo, "redeem_points": points})
    browser.choose(f"#redeem-{redeem}")
    browser.click("#update-cart")


def place_order(browser: Browser) -> str:
    browser.open("/demo/cart")
    browser.click("button[name='place-order']")
    assert browser.path.startswith("/demo/orders/demo-")
    return browser.path.removeprefix("/demo/orders/")


def order_matches(browser: Browser, summary: dict[str, Any], *, earned: int, redeemed: int) -> None:
    assert browser.text("order-status") == "credited"
    assert browser.number("order-points-earned") == earned
    assert browser.number("order-points-redeemed") == redeemed
    assert browser.number("order-balance") == summary["points"]["balance"]


def history_matches(browser: Browser, shop: SignedClient, customer_id: str, entries: int) -> None:
    path = f"/v1/customers/{customer_id}/loyalty/activity?limit=50"
    browser.wait_for(f"{entries} entries", lambda: len(shop.get(path).json()["entries"]) >= entries)
    browser.open("/demo/history")
    expected = shop.get(path).json()["entries"]
    rows = browser.all("#history tr.entry")
    shown = [
        (
            row.get_attribute("data-entry-id"),
            row.find_element("css selector", ".kind").text,
            int(row.find_element("css selector", ".points").text),
            int(row.find_element("css selector", ".balance-after").text),
        )
        for row in rows
    ]
    assert shown == [(e["entry_id"], e["kind"], e["points"], e["balance_after"]) for e in expected]


def test_signup_order_and_refund_through_the_storefront_pages(
    browser: Browser, stack: LocalStackProcess, shop: SignedClient
) -> None:
    customer_id = sign_up(browser, stack)
    summary = shop.get(f"/v1/customers/{customer_id}/loyalty").json()
    home_matches(browser, summary, shop.get("/v1/program").json())
    no_secret_in(browser, stack)

    # The points preview, and the promo-code rule (C3): a promo code earns nothing.
    add_to_cart(browser, "COFFEE-1", "HOSE-25")
    update_cart(browser, promo="SPRING10", redeem="none")
    assert browser.find("#promo-rule").is_displayed()
    quote_matches(
        browser,
        shop.post("/v1/checkout/quote", json=basket(browser, customer_id, promo_code="SPRING10")).json(),
    )
    assert browser.number("quote-points-to-earn") == 0
    update_cart(browser, promo="", redeem="none")
    assert not browser.all("#promo-rule")
    preview = shop.post("/v1/checkout/quote", json=basket(browser, customer_id)).json()
    quote_matches(browser, preview)
    assert preview["points_to_earn"] > 0
    no_secret_in(browser, stack)

    first = place_order(browser)
    summary = shop.get(f"/v1/customers/{customer_id}/loyalty").json()
    order_matches(browser, summary, earned=preview["points_to_earn"], redeemed=0)
    assert summary["points"]["balance"] == preview["points_to_earn"]

    # Pay with some points, then with all the next cart allows (C2).
    add_to_cart(browser, "TEE-1", "MUG-1")
    update_cart(browser, promo="", redeem="some", points="7")
    some = shop.post("/v1/checkout/quote", json=basket(browser, customer_id, redeem_points=7)).json()
    quote_matches(browser, some)
    assert some["redeem_points"] == 7
    update_cart(browser, promo="", redeem="all")
    cash_in = shop.post(
        "/v1/checkout/quote", json=basket(browser, customer_id, redeem_points=100_000_000)
    ).json()
    quote_matches(browser, cash_in)
    assert 0 < cash_in["redeem_points"] <= summary["points"]["balance"]
    place_order(browser)
    summary = shop.get(f"/v1/customers/{customer_id}/loyalty").json()
    order_matches(
        browser, summary, earned=cash_in["points_to_earn_with_redemption"], redeemed=cash_in["redeem_points"]
    )

    # Refund the hose of the first order (C5): its points come back off the balance.
    browser.open(f"/demo/orders/{first}")
    browser.click("button[name='refund-HOSE-25']")
    [refund] = browser.all("#refunds tr.refund")
    summary = shop.get(f"/v1/customers/{customer_id}/loyalty").json()
    assert int(refund.find_element("css selector", ".balance").text) == summary["points"]["balance"]
    reversed_points = int(refund.find_element("css selector", ".points-reversed").text)
    assert reversed_points > 0
    assert not browser.all("button[name='refund-HOSE-25']")

    history_matches(browser, shop, customer_id, entries=3)
    kinds = [row.find_element("css selector", ".kind").text for row in browser.all("#history tr.entry")]
    assert kinds[0] == "reversed"
    browser.open("/demo/")
    home_matches(
        browser, shop.get(f"/v1/customers/{customer_id}/loyalty").json(), shop.get("/v1/program").json()
    )
    no_secret_in(browser, stack)

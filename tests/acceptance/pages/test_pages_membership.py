"""The demo storefront's membership pages in a browser: a customer who did not join sees the
join prompt; they attach a card from the shop's stock (A4, A10) reading the emailed code in
the side panel of captured mail, as a person would; they update their details and opt-ins
(P1, P3), which reach the loyalty account; another joins from the prompt in one click (A3)."""

from __future__ import annotations

import re
import secrets
import uuid

from bridge_local.client import SignedClient
from bridge_local.stack import LocalStackProcess
from loyalty_bridge.adapters.ledger import DynamoDbLedger
from loyalty_bridge.program import card_numbers
from loyalty_bridge.settings import Settings
from tests.acceptance.pages.browser import Browser
from tests.acceptance.pages.test_pages_storefront import no_secret_in
from tests.acceptance.test_membership_flows import fresh_mobile, in_store_member
from tests.acceptance.test_membership_merge import earn


def stock_card(admin: SignedClient) -> str:
    payload = "62" + "".join(str(secrets.randbelow(10)) for _ in range(13))
    card = payload + card_numbers.luhn_check_digit(payload)
    answer = admin.post(
        f"/v1/admin/cards/import?batch_id=b-{uuid.uuid4().hex[:8]}",
        content=card + "\n",
        headers={"content-type": "text/csv"},
    )
    assert answer.status_code == 200, answer.text
    return card


def code_in_panel(browser: Browser, digits: int) -> str:
    """The newest code of ``digits`` digits in the side panel of captured mail and SMS."""
    found = re.search(rf"\b(\d{{{digits}}})\b", browser.find("#outbox").text)
    assert found, browser.find("#outbox").text
    return found.group(1)


def sign_up_without_joining(browser: Browser, stack: LocalStackProcess, email: str) -> str:
    browser.open("/demo/")
    browser.fill(
        "#signup", {"first_name": "Eli", "last_name": "Park", "email": email, "password": "pass-word-1"}
    )
    browser.choose("#signup [name='join']")  # untick: do not join now
    browser.click("#signup button[type='submit']")
    stack.wait_until_drained()
    browser.open("/demo/")
    return browser.text("customer-id")


def test_the_join_prompt_joins_in_one_click(
    browser: Browser, stack: LocalStackProcess, shop: SignedClient
) -> None:
    customer_id = sign_up_without_joining(browser, stack, f"joe.{uuid.uuid4().hex[:10]}@example.com")
    assert shop.get(f"/v1/customers/{customer_id}/loyalty").json()["join_prompt"] is True
    browser.click("#join-prompt button[type='submit']")
    stack.wait_until_drained()
    browser.open("/demo/")
    summary = shop.get(f"/v1/customers/{customer_id}/loyalty").json()
    assert summary["status"] == browser.text("loyalty-status") == "joined"
    assert browser.text("card-number") == summary["card"]["number"]
    assert not browser.all("#join-prompt")


def test_a_customer_who_did_not_join_attaches_a_card_with_the_code_from_the_side_panel(
    browser: Browser, stack: LocalStackProcess, shop: SignedClient, admin: SignedClient
) -> None:
    email = f"eli.{uuid.uuid4().hex[:10]}@example.com"
    customer_id = sign_up_without_joining(browser, stack, email)
    summary = shop.get(f"/v1/customers/{customer_id}/loyalty").json()
    assert summary["join_prompt"] is True
    assert browser.find("#join-prompt").is_displayed()
    assert browser.text("loyalty-status") == summary["status"]

    card = stock_card(admin)
    browser.open("/demo/card")
    browser.submit("#attach", {"card_number": card, "email": email})
    stack.wait_until_drained()
    browser.open("/demo/card")
    browser.submit("#attach-confirm", {"code": "000000"})  # a wrong code: told so, on the card page
    assert browser.path == "/demo/card"
    assert "invalid_code" in browser.text("problem")
    browser.submit("#attach-confirm", {"code": code_in_panel(browser, 6)})
    assert card in browser.text("flash")
    summary = shop.get(f"/v1/customers/{customer_id}/loyalty").json()
    assert summary["card"]["number"] == card
    assert browser.text("card-number") == card
    assert browser.number("points-balance") == summary["points"]["balance"]
    no_secret_in(browser, stack)

    # Staff credit 600 points (R7); the member redeems a reward for a coupon (R4).
    credit = {"adjustment_id": f"adj-{uuid.uuid4().hex[:8]}", "points": 600, "reason": "welcome gift"}
    assert admin.post(f"/v1/admin/customers/{customer_id}/adjustments", json=credit).status_code == 201
    browser.open("/demo/")
    assert browser.number("points-redeemable") == 600
    browser.click("button[name='redeem-free-shipping']")
    [coupon] = shop.get(f"/v1/customers/{customer_id}/loyalty/coupons").json()["coupons"]
    assert coupon["code"] in browser.text("flash")
    assert [li.text for li in browser.all("#coupons li.coupon")] == [
        f"{coupon['name']}: {coupon['code']} ({coupon['status']})"
    ]
    assert (
        browser.number("points-balance")
        == shop.get(f"/v1/customers/{customer_id}/loyalty").json()["points"]["balance"]
    )
    assert browser.number("points-balance") == 600 - coupon["points"]

    browser.open("/demo/details")
    browser.fill("#details", {"first_name": "Elias", "birthday": "1990-04-01"})
    browser.choose("#details [name='consent_sms']")
    browser.click("#details button[type='submit']")
    assert "Details saved" in browser.text("flash")
    assert "opt-ins saved" in browser.text("flash")
    stack.wait_until_drained()
    profile = shop.get(f"/v1/customers/{customer_id}/loyalty/profile").json()
    assert (profile["first_name"], profile["birthday"]) == ("Elias", "1990-04-01")
    assert browser.find("#details [name='consent_sms']").is_selected()
    assert browser.find("#details [name='first_name']").get_attribute("value") == "Elias"


def test_the_cards_on_a_verified_phone_are_merged_into_the_one_chosen_on_the_card_page(
    browser: Browser, stack: LocalStackProcess, shop: SignedClient
) -> None:
    """A8: two cards made in store share the customer's mobile; the customer attaches one
    (emailed code), verifies the phone (SMS code read in the side panel), picks the other as
    primary and merges: the page and the API show the primary with both cards' points."""
    ledger = DynamoDbLedger(stack.client("dynamodb"), stack.status()["tables"]["LedgerTable"], Settings())
    email, mobile = f"mo.{uuid.uuid4().hex[:10]}@example.com", fresh_mobile()
    a = in_store_member(ledger, email, mobile=mobile)
    b = in_store_member(ledger, f"store.{uuid.uuid4().hex[:8]}@example.com", mobile=mobile)
    earn(ledger, a, "120.00")
    earn(ledger, b, "80.00")
    customer_id = sign_up_without_joining(browser, stack, email)

    browser.open("/demo/card")
    browser.submit("#attach", {"card_number": a.card.number, "email": email})
    stack.wait_until_drained()
    browser.open("/demo/card")
    browser.submit("#attach-confirm", {"code": code_in_panel(browser, 6)})
    browser.open("/demo/card")
    browser.submit("#phone", {"mobile": mobile})
    stack.wait_until_drained()
    browser.open("/demo/card")
    browser.submit("#phone-confirm", {"code": code_in_panel(browser, 4)})
    shown = {li.text.split(":")[0] for li in browser.all("#phone-cards li")}
    assert shown == {a.card.number, b.card.number}
    total = sum(int(p.text) for p in browser.all("#phone-cards .card-points"))

    browser.choose(f"#primary-{b.card.number}")
    browser.click("#merge button[type='submit']")
    summary = shop.get(f"/v1/customers/{customer_id}/loyalty").json()
    assert summary["card"]["number"] == b.card.number == browser.text("card-number")
    assert browser.number("points-balance") + browser.number("points-pending") == total
    assert summary["points"]["balance"] == browser.number("points-balance")

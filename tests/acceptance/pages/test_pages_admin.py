"""The admin console in a browser: an Account Update Error shows under its category with the
email the admins got; after the fix by hand, Replay on the page sends it again and it is
resolved; Resolve closes another with a note. The program and statistics pages show what
the admin API answers."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
from selenium.webdriver.remote.webelement import WebElement

from bridge_local.client import SignedClient
from bridge_local.stack import LocalStackProcess
from tests.acceptance.pages.browser import Browser


def joined(shop: SignedClient, stack: LocalStackProcess, body: dict[str, Any]) -> None:
    assert shop.post("/v1/customers", json=body).status_code == 202
    stack.wait_until_drained()
    assert shop.get(f"/v1/customers/{body['customer_id']}/loyalty").json()["status"] == "joined"


def email_clash(
    shop: SignedClient,
    admin: SignedClient,
    stack: LocalStackProcess,
    new_customer: Callable[..., dict[str, Any]],
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The first customer takes the second one's email: the platform refuses, an error is kept."""
    first, second = new_customer(), new_customer()
    joined(shop, stack, first)
    joined(shop, stack, second)
    assert (
        shop.patch(f"/v1/customers/{first['customer_id']}", json={"email": second["email"]}).status_code
        == 202
    )
    stack.wait_until_drained()
    listed = admin.get("/v1/admin/errors?category=account_update&status=open&limit=100").json()["errors"]
    [error] = [e for e in listed if e["customer_id"] == first["customer_id"]]
    return first, second, error


Clash = tuple[dict[str, Any], dict[str, Any], dict[str, Any]]


@pytest.fixture
def clash(
    shop: SignedClient,
    admin: SignedClient,
    stack: LocalStackProcess,
    new_customer: Callable[..., dict[str, Any]],
) -> Clash:
    return email_clash(shop, admin, stack, new_customer)


def error_box(browser: Browser, error_id: str) -> WebElement:
    [box] = [
        b for b in browser.all("#account_update div.error") if b.get_attribute("data-error-id") == error_id
    ]
    return box


def test_an_error_is_shown_with_its_email_and_replayed_from_the_console(
    browser: Browser, stack: LocalStackProcess, shop: SignedClient, admin: SignedClient, clash: Clash
) -> None:
    _first, second, error = clash
    browser.open("/admin/")
    open_errors = admin.get("/v1/admin/errors?category=account_update&status=open&limit=100").json()["errors"]
    assert int(browser.find("#account_update .count").text) == len(open_errors)
    box = error_box(browser, error["error_id"])
    assert error["attempted"] in box.text
    assert error["action"] in box.text
    box.find_element("css selector", "summary").click()
    mail = box.find_element("css selector", "pre.email").text
    assert f"Error id: {error['error_id']}" in mail
    assert "Account Update Errors" in mail
    assert second["email"] not in mail  # masked, as in the email

    # The fix by hand: the second customer moves away from the address. Then Replay.
    moved = {"email": f"moved.{uuid.uuid4().hex[:8]}@example.com"}
    assert shop.patch(f"/v1/customers/{second['customer_id']}", json=moved).status_code == 202
    stack.wait_until_drained()
    browser.click(f"div.error[data-error-id='{error['error_id']}'] button[name='replay']")
    assert "Replaying" in browser.text("flash")
    stack.wait_until_drained()
    browser.open("/admin/?status=resolved")
    assert error_box(browser, error["error_id"]).find_element("css selector", ".status").text == "resolved"
    read = admin.get(f"/v1/admin/errors/{quote(error['error_id'], safe='')}").json()
    assert read["status"] == "resolved"
    browser.open("/admin/")
    assert not [b for b in browser.all("div.error") if b.get_attribute("data-error-id") == error["error_id"]]


def test_an_error_fixed_by_hand_is_resolved_from_the_console_with_a_note(
    browser: Browser, admin: SignedClient, clash: Clash
) -> None:
    _, _, error = clash
    browser.open("/admin/")
    box = error_box(browser, error["error_id"])
    box.find_element("css selector", "input[name='note']").send_keys("merged the two by hand")
    browser.click(f"div.error[data-error-id='{error['error_id']}'] button[name='resolve']")
    assert "resolved" in browser.text("flash")
    read = admin.get(f"/v1/admin/errors/{quote(error['error_id'], safe='')}").json()
    assert read["status"] == "resolved"
    assert read["note"] == "merged the two by hand"


def test_the_program_and_statistics_pages_show_what_the_admin_api_answers(
    browser: Browser,
    stack: LocalStackProcess,
    admin: SignedClient,
    shop: SignedClient,
    new_customer: Callable[..., dict[str, Any]],
) -> None:
    joined(shop, stack, new_customer())  # a new member today, at least
    browser.open("/admin/program")
    current = admin.get("/v1/admin/program").json()
    assert browser.number("program-version") == current["version"]
    ways = [li.text for li in browser.all("#ways-to-earn li")]
    assert ways == [w["description"] for w in shop.get("/v1/program").json()["ways_to_earn"]]
    assert ways
    # The form stores the program shown as the next version (same rules: nothing else changes).
    browser.click("#program-form button[type='submit']")
    stored = admin.get("/v1/admin/program").json()
    assert stored["version"] == current["version"] + 1
    assert stored["program"] == current["program"]
    assert f"Stored version {stored['version']}" in browser.text("flash")
    assert browser.number("program-version") == stored["version"]
    versions = admin.get("/v1/admin/program/versions?limit=20").json()["versions"]
    shown = [int(row.find_element("css selector", "td").text) for row in browser.all("#versions tr.version")]
    assert shown == [v["version"] for v in versions]
    browser.fill("#program-form", {"program": "{not json"})
    browser.click("#program-form button[type='submit']")
    assert "Not JSON" in browser.text("problem")
    assert admin.get("/v1/admin/program").json()["version"] == stored["version"]

    today = datetime.now(UTC).date().isoformat()
    browser.open(f"/admin/stats?from={today}&to={today}")
    report = admin.get(f"/v1/admin/stats?from={today}&to={today}").json()
    totals = report["totals"]
    assert totals is not None
    row = browser.find("#stats tr.totals")
    for column in ("orders", "points_earned", "points_redeemed", "points_reversed", "new_members"):
        assert int(row.find_element("css selector", f".{column}").text) == totals[column], column
    assert totals["new_members"] > 0

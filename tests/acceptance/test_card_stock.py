"""Card stock (issue 12 part 1, seed 000) over the local stack: the admin imports printed
card numbers as CSV (or with bridge-admin), and a customer attaches one of them online,
at signup or later, with the code mailed to the web account's email."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bridge_local.client import SignedClient
from bridge_local.stack import LocalStackProcess
from loyalty_bridge.program import card_numbers
from tests.acceptance.admin_cli import bridge_admin
from tests.acceptance.test_membership_flows import confirm_attach, emailed_code, start_attach, summary
from tests.conftest import ROOT, Mailbox

NewCustomer = Callable[..., dict[str, Any]]


def printed_card() -> str:
    payload = "62" + "".join(str(secrets.randbelow(10)) for _ in range(13))
    return payload + card_numbers.luhn_check_digit(payload)


def wrong_check_digit(number: str) -> str:
    return number[:-1] + str((int(number[-1]) + 1) % 10)


def import_csv(admin: SignedClient, batch_id: str, text: str) -> dict[str, Any]:
    answer = admin.post(
        f"/v1/admin/cards/import?batch_id={batch_id}", content=text, headers={"content-type": "text/csv"}
    )
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def test_a_csv_of_1000_numbers_gives_exact_counts_and_a_repeat_imports_nothing(
    admin_client: SignedClient,
) -> None:
    good = [printed_card() for _ in range(995)]
    bad = [wrong_check_digit(printed_card()), "12345", "6201-ABCD-0000"]
    lines = [*good[:500], *bad, good[10], *good[500:], good[700]]  # 1,000 lines, 2 repeated
    assert len(lines) == 1000
    text = "card_number\n" + "\n".join(lines) + "\n"
    batch_id = f"delivery-{uuid.uuid4().hex[:8]}"

    first = import_csv(admin_client, batch_id, text)
    assert (first["batch_id"], first["imported"], first["already_known"]) == (batch_id, 995, 0)
    assert first["invalid_count"] == 5
    assert sorted((i["number"], i["reason"]) for i in first["invalid"]) == sorted(
        [
            (bad[0], "check_digit"),
            (bad[1], "length"),
            (bad[2], "not_a_number"),
            (good[10], "duplicate_in_file"),
            (good[700], "duplicate_in_file"),
        ]
    )

    again = import_csv(admin_client, batch_id, text)  # a new Idempotency-Key: really run again
    assert (again["imported"], again["already_known"], again["invalid_count"]) == (0, 995, 5)

    as_json = admin_client.post("/v1/admin/cards/import", json={"batch_id": batch_id, "cards": good[:3]})
    assert as_json.status_code == 200, as_json.text
    assert (as_json.json()["imported"], as_json.json()["already_known"]) == (0, 3)


def test_10000_numbers_fit_one_request_and_more_are_refused(admin_client: SignedClient) -> None:
    """The route takes 10,000 numbers (~200 KB, over the API's usual 64 KiB); 10,001 is 422.
    (Mostly invalid numbers here: moto's transactions are slow, the body limit is the point.)"""
    too_many = admin_client.post(
        "/v1/admin/cards/import?batch_id=too-many",
        content="\n".join(["6200000000000000"] * 10_001),
        headers={"content-type": "text/csv"},
    )
    assert (too_many.status_code, too_many.json()["code"]) == (422, "too_many_cards")
    valid = [printed_card() for _ in range(5)]
    numbers = [*valid, *(printed_card()[:15] + "X123" for _ in range(9_995))]  # 19 characters each
    text = "\n".join(numbers)
    assert len(text.encode()) > 3 * 64 * 1024
    answer = admin_client.post(
        f"/v1/admin/cards/import?batch_id=big-{uuid.uuid4().hex[:6]}",
        content=text,
        headers={"content-type": "text/csv"},
    )
    assert answer.status_code == 200, answer.text[:500]
    counted = answer.json()
    assert (counted["imported"], counted["invalid_count"]) == (5, 9_995)
    assert len(counted["invalid"]) == 1_000  # listed up to 1,000; invalid_count has them all


def test_the_import_is_admin_only(signed_client: SignedClient) -> None:
    answer = signed_client.post("/v1/admin/cards/import", json={"batch_id": "b", "cards": [printed_card()]})
    assert answer.status_code == 403


def test_an_imported_card_entered_at_signup_is_attached_with_the_mailed_code(
    local_stack: LocalStackProcess,
    admin_client: SignedClient,
    signed_client: SignedClient,
    mailbox: Mailbox,
    new_customer: NewCustomer,
) -> None:
    card = printed_card()
    import_csv(admin_client, f"b-{uuid.uuid4().hex[:8]}", card + "\n")
    body = new_customer(card_number=card, first_name="Dana", last_name="Moss")
    answer = signed_client.post("/v1/customers", json=body)
    assert answer.status_code == 202, answer.text
    local_stack.wait_until_drained()
    assert summary(signed_client, body["customer_id"])["status"] == "verifying"
    status, document = confirm_attach(
        signed_client, body["customer_id"], emailed_code(mailbox, body["email"])
    )
    assert status == 200, document
    assert (document["status"], document["card"]) == ("joined", {"number": card, "kind": "physical"})
    profile = signed_client.get(f"/v1/customers/{body['customer_id']}/loyalty/profile").json()
    assert (profile["email"], profile["first_name"], profile["last_name"]) == (body["email"], "Dana", "Moss")


def test_an_imported_card_attached_later_takes_the_customers_details(
    admin_client: SignedClient, signed_client: SignedClient, mailbox: Mailbox, new_customer: NewCustomer
) -> None:
    card = printed_card()
    import_csv(admin_client, f"b-{uuid.uuid4().hex[:8]}", card + "\n")
    body = new_customer(join=False, first_name="Eli")
    assert signed_client.post("/v1/customers", json=body).status_code == 202
    start_attach(signed_client, body["customer_id"], card, body["email"])
    status, document = confirm_attach(
        signed_client, body["customer_id"], emailed_code(mailbox, body["email"])
    )
    assert status == 200, document
    assert document["card"]["number"] == card
    profile = signed_client.get(f"/v1/customers/{body['customer_id']}/loyalty/profile").json()
    assert (profile["card_number"], profile["email"], profile["first_name"]) == (card, body["email"], "Eli")


def test_bridge_admin_imports_a_csv_file_over_the_signed_api(
    local_stack: LocalStackProcess, tmp_path: Path
) -> None:
    cards = [printed_card() for _ in range(25)]
    path = tmp_path / "delivery-42.csv"
    path.write_text("card_number\n" + "\n".join([*cards, "1234"]) + "\n", encoding="utf-8")

    def run(*extra: str) -> dict[str, Any]:
        return bridge_admin(local_stack, "import-cards", str(path), *extra, timeout=120)

    first = run("--chunk", "10")  # three requests, summed
    assert (first["batch_id"], first["numbers"]) == ("delivery-42", 26)
    assert (first["imported"], first["already_known"], first["invalid_count"]) == (25, 0, 1)
    assert first["invalid"] == [{"number": "1234", "reason": "length"}]
    again = run()
    assert (again["imported"], again["already_known"]) == (0, 25)
    assert 'bridge-admin = "bridge_local.admin:main"' in (ROOT / "pyproject.toml").read_text()

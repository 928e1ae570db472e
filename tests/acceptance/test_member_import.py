"""Member import (issue 18, seed 002) over the local stack: a CSV of 1,000 members gives
exact outcomes and a repeat creates nothing; then the seed 002 path: three imported cards
on one mobile, the customer verifies the phone (A7), sees the three with their points,
merges them into one (A8), reads a profile prefilled from the import (A11) and stays
accumulate-only until the required fields are filled (A9)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bridge_local.client import SignedClient
from bridge_local.stack import LocalStackProcess
from loyalty_bridge.adapters.ledger import DynamoDbLedger
from loyalty_bridge.models.domain import CardState
from loyalty_bridge.settings import Settings
from tests.acceptance.admin_cli import bridge_admin
from tests.acceptance.test_membership_flows import fresh_card_number, fresh_mobile, sign_up, summary
from tests.conftest import SmsOutbox
from tests.member_files import member_file

PROGRAM = {"required_profile_fields": ["mobile", "birthday", "address"]}
GOOD = 995  # with the 5 refused lines: the file of 1,000 members
HEADER = "card_number,mobile,email,first_name,last_name,birthday,balance,lots,lifetime_spend,source_program"


@pytest.fixture(scope="module")
def stack(local_stack_factory: Callable[..., LocalStackProcess]) -> LocalStackProcess:
    return local_stack_factory(params={"EarnRulesJson": json.dumps(PROGRAM)})


@pytest.fixture
def sms(stack: LocalStackProcess, sms_outbox_for: Callable[[LocalStackProcess], SmsOutbox]) -> SmsOutbox:
    return sms_outbox_for(stack)


@pytest.fixture
def ledger(stack: LocalStackProcess) -> DynamoDbLedger:
    table = stack.status()["tables"]["LedgerTable"]
    return DynamoDbLedger(stack.client("dynamodb"), table, Settings(earn_rules_json=json.dumps(PROGRAM)))


def import_csv(admin: SignedClient, text: str) -> dict[str, Any]:
    answer = admin.post("/v1/admin/members/import", content=text, headers={"content-type": "text/csv"})
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def test_a_csv_of_members_gives_exact_outcomes_and_a_repeat_creates_nothing(
    admin: SignedClient, ledger: DynamoDbLedger
) -> None:
    # 1,000 lines over the local stack (a new member is one moto transaction); the same kind
    # of file also runs on the in-memory platform in
    # tests/unit/membership/test_membership_member_import.py, and through the bucket in the bench.
    file = member_file(GOOD)

    first = import_csv(admin, file.text)

    assert (first["lines"], first["created"], first["already_there"], first["refused"]) == (
        GOOD + 5,
        GOOD,
        0,
        5,
    )
    assert {o["line"]: o["reason"] for o in first["outcomes"] if o["outcome"] == "refused"} == file.refusals
    again = import_csv(admin, file.text)  # a new Idempotency-Key: really run again
    assert (again["created"], again["already_there"], again["refused"]) == (0, GOOD, 5)
    by_card = {o["card_number"]: o["member_id"] for o in first["outcomes"] if o["outcome"] == "created"}
    for i, card in enumerate(file.cards):  # balances and the soonest lot's date, exact
        balance = ledger.get_balance(by_card[card])
        assert (balance.balance, (balance.next_expiry_points, balance.next_expiry_on)) == (
            file.balance(i),
            file.next_expiry(i),
        ), i


def verify_phone(shop: SignedClient, sms: SmsOutbox, customer_id: str, mobile: str) -> dict[str, Any]:
    sent = shop.post(f"/v1/customers/{customer_id}/loyalty/phone", json={"mobile": mobile})
    assert sent.status_code == 202, sent.text
    code = re.search(r"\b(\d{4})\b", str(sms.wait_for(to=mobile)["message"]))
    assert code
    confirmed = shop.post(f"/v1/customers/{customer_id}/loyalty/phone/confirm", json={"code": code.group(1)})
    assert confirmed.status_code == 200, confirmed.text
    document: dict[str, Any] = confirmed.json()
    return document


def test_three_imported_cards_on_one_mobile_verify_merge_and_prefill(
    stack: LocalStackProcess,
    admin: SignedClient,
    shop: SignedClient,
    ledger: DynamoDbLedger,
    sms: SmsOutbox,
    new_customer: Callable[..., dict[str, Any]],
) -> None:
    mobile = fresh_mobile()
    cards = [fresh_card_number() for _ in range(3)]
    imported = import_csv(
        admin,
        HEADER
        + "\n"
        + f"{cards[0]},{mobile},,Vera,Kim,1979-05-06,300,100@2027-02-01,250.00,Hypermarket\n"
        + f"{cards[1]},{mobile},,,,,120,20@2027-01-10,,Garden club\n"
        + f"{cards[2]},{mobile},,,,,45,,,Old cards\n",
    )
    assert imported["created"] == 3
    body = new_customer(join=False)
    sign_up(shop, body)
    customer_id = body["customer_id"]

    confirmed = verify_phone(shop, sms, customer_id, mobile)

    assert sorted((c["number"], c["points"]) for c in confirmed["cards"]) == sorted(
        [(cards[0], 300), (cards[1], 120), (cards[2], 45)]
    )
    merged = shop.post(
        f"/v1/customers/{customer_id}/loyalty/merge", json={"primary_card": cards[0], "cards": cards[1:]}
    )
    assert merged.status_code == 200, merged.text
    document = merged.json()
    assert (document["status"], document["card"]["number"], document["points"]["balance"]) == (
        "joined",
        cards[0],
        465,
    )
    assert document["points"]["next_expiry"] == {"points": 20, "on": "2027-01-10"}
    by_card = {o["card_number"]: o["member_id"] for o in imported["outcomes"]}
    assert [ledger.get_member(by_card[c]).card.state for c in cards[1:]] == [CardState.BLOCKED] * 2
    stack.wait_until_drained()
    kinds = [e["kind"] for e in shop.get(f"/v1/customers/{customer_id}/loyalty/activity").json()["entries"]]
    assert sorted(kinds) == ["merged_in", "merged_in", "opening"]
    out = [str(e["activity"]) for e in ledger.entries(by_card[cards[1]]) if e.get("activity")]
    assert sorted(out) == ["merged_out", "opening"]

    # A11 / A9: the profile read prefills what the import carried; accumulate-only until filled.
    profile = shop.get(f"/v1/customers/{customer_id}/loyalty/profile").json()
    # The birthday only the import knew; the names are the web account's own (Ann Lee).
    assert (profile["birthday"], profile["mobile"], profile["card_number"]) == (
        "1979-05-06",
        mobile,
        cards[0],
    )
    assert (profile["missing"], profile["accumulate_only"]) == (["address"], True)
    assert summary(shop, customer_id)["accumulate_only"] is True
    # Filling the last required field ends accumulate-only (A9).
    filled = shop.patch(
        f"/v1/customers/{customer_id}",
        json={"address": {"line1": "1 Main St", "city": "Berlin", "postal_code": "10115", "country": "DE"}},
    )
    assert filled.status_code in (200, 202), filled.text
    stack.wait_until_drained()
    assert summary(shop, customer_id)["accumulate_only"] is False


def test_bridge_admin_imports_a_member_file_in_parts_with_the_files_line_numbers(
    stack: LocalStackProcess, ledger: DynamoDbLedger, tmp_path: Path
) -> None:
    file = member_file(20)
    path = tmp_path / "old-club.csv"
    path.write_text(file.text, encoding="utf-8")

    def run(*extra: str) -> dict[str, Any]:
        return bridge_admin(stack, "import-members", str(path), "--http", *extra)

    first = run("--chunk", "7")  # four parts under one import id
    assert first["import_id"].startswith("old-club-")
    assert (first["lines"], first["created"], first["refused"]) == (25, 20, 5)
    assert {r["line"]: r["reason"] for r in first["refusals"]} == file.refusals  # the file's line numbers
    again = run()
    assert (again["created"], again["already_there"], again["refused"]) == (0, 20, 5)
    resumed = run("--import-id", first["import_id"], "--chunk", "11")  # the same import: answered as before
    assert (resumed["created"], resumed["already_there"], resumed["refused"]) == (20, 0, 5)
    assert ledger.get_balance(
        ledger.find_members(card_number=file.cards[3])[0].member_id
    ).balance == file.balance(3)

"""Member import (issue 18, seed 002) over the local stack: a CSV of 1,000 members gives
exact outcomes and a repeat creates nothing; then the seed 002 path: three imported cards
on one mobile, the customer verifies the phone (A7), sees the three with their points,
merges them into one (A8), reads a profile prefilled from the import (A11) and stays
accumulate-only until the required fields are filled (A9)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from bridge_local.client import SignedClient
from bridge_local.stack import LocalStackProcess
from loyalty_bridge.adapters.ledger import DynamoDbLedger
from loyalty_bridge.models.domain import CardState
from loyalty_bridge.settings import Settings
from tests.acceptance.test_membership_flows import fresh_card_number, fresh_mobile, sign_up, summary
from tests.conftest import SmsOutbox

PROGRAM = {"required_profile_fields": ["mobile", "birthday", "address"]}
GOOD = 95
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


def broken(number: str) -> str:
    return number[:-1] + str((int(number[-1]) + 1) % 10)


def test_a_csv_of_members_gives_exact_outcomes_and_a_repeat_creates_nothing(
    admin: SignedClient, ledger: DynamoDbLedger
) -> None:
    # 100 lines, not the 1,000: moto applies a TransactWriteItems in seconds once the
    # table holds thousands of items, so 1,000 lines over the local stack take minutes (the
    # contract suite checks the same rules on the ledger; the 1,000-line run is left to the bench).
    cards = [fresh_card_number() for _ in range(GOOD + 1)]
    rows: list[str] = []
    for i, card in enumerate(cards[:GOOD]):
        mobile = fresh_mobile() if i % 3 else ""  # a third without a phone
        email = f"m.{uuid.uuid4().hex[:10]}@example.com" if i % 4 else ""  # a quarter without an email
        lots = f"{i % 50 + 1}@2027-0{i % 9 + 1}-15" if i % 2 else ""
        rows.append(
            f"{card},{mobile},{email},First{i},,1970-01-0{i % 9 + 1},{i * 3 + 60},{lots},{i}.50,Club {i % 20}"
        )
    refused_rows = {
        51: f"{broken(fresh_card_number())},,,,,,10,,,",
        52: f"{cards[7]},,,,,,10,,,",
        53: f"{cards[GOOD]},+12,,,,,10,,,",
        54: f"{fresh_card_number()},,,,,,-40,,,",
        55: f"{fresh_card_number()},,,,,,10,11@2027-01-01,,",
    }
    lines = rows[:49] + list(refused_rows.values()) + rows[49:]
    assert len(lines) == GOOD + 5
    text = HEADER + "\n" + "\n".join(lines) + "\n"

    first = import_csv(admin, text)

    assert (first["lines"], first["created"], first["already_there"], first["refused"]) == (
        GOOD + 5,
        GOOD,
        0,
        5,
    )
    refusals = {o["line"]: o["reason"] for o in first["outcomes"] if o["outcome"] == "refused"}
    assert refusals == {
        51: "bad_check_digit",
        52: "duplicate_card",
        53: "bad_mobile",
        54: "negative_balance",
        55: "bad_lots",
    }
    again = import_csv(admin, text)  # a new Idempotency-Key: really run again
    assert (again["created"], again["already_there"], again["refused"]) == (0, GOOD, 5)
    by_card = {o["card_number"]: o["member_id"] for o in first["outcomes"] if o["outcome"] == "created"}
    for i in range(GOOD):  # balances and the soonest lot's date, exact
        balance = ledger.get_balance(by_card[cards[i]])
        assert balance.balance == i * 3 + 60, i
        expected = (i % 50 + 1, f"2027-0{i % 9 + 1}-15") if i % 2 else (0, None)
        shown = (
            balance.next_expiry_points,
            balance.next_expiry_on.isoformat() if balance.next_expiry_on else None,
        )
        assert shown == expected, i


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

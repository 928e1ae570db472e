"""A member import file (issue 18, seed 002) for tests: ``good`` members, some without a
phone or an email, half with a lot, and 5 refused lines in the middle, with what each line
must give (the unit test runs 1,000 lines on the in-memory platform, the acceptance test a
smaller one over the local stack)."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import date

from loyalty_bridge.program import card_numbers

HEADER = "card_number,mobile,email,first_name,last_name,birthday,balance,lots,lifetime_spend,source_program"


def new_card() -> str:
    payload = "65" + "".join(str(secrets.randbelow(10)) for _ in range(13))
    return payload + card_numbers.luhn_check_digit(payload)


def new_mobile() -> str:
    return "+4915" + "".join(str(secrets.randbelow(10)) for _ in range(9))


@dataclass(frozen=True)
class MemberFile:
    text: str
    cards: list[str]  # the good lines' cards, in file order
    refusals: dict[int, str]  # line number -> reason

    @staticmethod
    def balance(i: int) -> int:
        return i * 3 + 60

    @staticmethod
    def next_expiry(i: int) -> tuple[int, date | None]:
        return (i % 50 + 1, date(2027, i % 9 + 1, 15)) if i % 2 else (0, None)


def member_file(good: int) -> MemberFile:
    cards = [new_card() for _ in range(good + 1)]
    rows: list[str] = []
    for i, card in enumerate(cards[:good]):
        mobile = new_mobile() if i % 3 else ""  # a third without a phone
        email = f"m.{uuid.uuid4().hex[:10]}@example.com" if i % 4 else ""  # a quarter without an email
        lots = f"{i % 50 + 1}@2027-0{i % 9 + 1}-15" if i % 2 else ""
        person = f"{card},{mobile},{email},First{i},,1970-01-0{i % 9 + 1}"
        rows.append(f"{person},{MemberFile.balance(i)},{lots},{i}.50,Club {i % 20}")
    wrong = new_card()
    refused = [
        (f"{wrong[:-1]}{(int(wrong[-1]) + 1) % 10},,,,,,10,,,", "bad_check_digit"),
        (f"{cards[7]},,,,,,10,,,", "duplicate_card"),
        (f"{cards[good]},+12,,,,,10,,,", "bad_mobile"),
        (f"{new_card()},,,,,,-40,,,", "negative_balance"),
        (f"{new_card()},,,,,,10,11@2027-01-01,,", "bad_lots"),
    ]
    half = good // 2
    lines = rows[:half] + [row for row, _ in refused] + rows[half:]
    first_refused = half + 2  # line 1 is the header
    refusals = {first_refused + k: reason for k, (_, reason) in enumerate(refused)}
    return MemberFile(HEADER + "\n" + "\n".join(lines) + "\n", cards[:good], refusals)

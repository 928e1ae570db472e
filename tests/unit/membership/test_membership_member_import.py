"""The member import's file handling (services/member_import.py) and the opening rules
(program/member_import.py, point_lots' dated lots), with the in-memory platform."""

from __future__ import annotations

from datetime import date

import pytest

from loyalty_bridge import errors
from loyalty_bridge.models.member_import import LineOutcome, MemberLine
from loyalty_bridge.program import card_numbers
from loyalty_bridge.program.member_import import parse_lots, screen_line
from loyalty_bridge.program.point_lots import PointLots
from loyalty_bridge.services.member_import import MemberImport, file_format, read_lines
from tests.fakes import InMemoryPlatform
from tests.member_files import member_file


def card(n: int) -> str:
    payload = f"64{n:012d}"
    return payload + card_numbers.luhn_check_digit(payload)


def test_the_format_comes_from_the_content_type_or_the_file_name() -> None:
    assert file_format("text/csv; charset=utf-8") == "csv"
    assert file_format("application/x-ndjson") == "jsonl"
    assert file_format(None, "members.JSONL") == "jsonl"
    with pytest.raises(errors.InvalidInput) as refused:
        file_format("application/json")
    assert refused.value.code == "unsupported_media_type"


def test_a_csv_header_names_known_columns_and_lines_keep_their_numbers() -> None:
    lines = read_lines(f"card_number,balance\n{card(1)},5\n\n{card(2)},6,extra\n", "csv")
    assert [(n, f["card_number"]) for n, f in lines if f] == [(2, card(1)), (4, card(2))]
    assert lines[1][1] == {"card_number": card(2), "balance": "6", "(extra columns)": ["extra"]}
    for header in ("balance", "card_number,points", "card_number,card_number"):
        with pytest.raises(errors.InvalidInput) as refused:
            read_lines(header + "\n", "csv")
        assert refused.value.code == "invalid_header"


def test_a_json_line_that_is_not_an_object_is_refused_alone() -> None:
    answer = MemberImport(InMemoryPlatform()).import_text(
        "j", "jsonl", f'{{"card_number": "{card(3)}", "balance": 1}}\n[1, 2]\nnot json\n'
    )
    assert [(o.line, o.outcome, o.reason) for o in answer.outcomes] == [
        (1, "created", None),
        (2, "refused", "bad_field"),
        (3, "refused", "bad_field"),
    ]


def test_lots_are_read_from_a_csv_cell_or_json_and_checked_against_the_balance() -> None:
    assert parse_lots("10@2027-01-31; 5@2027-02-28") == [
        {"points": "10", "expires_on": "2027-01-31"},
        {"points": "5", "expires_on": "2027-02-28"},
    ]
    seen: set[str] = set()
    ok = screen_line(2, {"card_number": card(4), "balance": "15", "lots": "10@2027-01-31|5@2027-02-28"}, seen)
    assert isinstance(ok, MemberLine)
    assert [lot.points for lot in ok.lots] == [10, 5]
    over = screen_line(3, {"card_number": card(5), "balance": "9", "lots": "10@2027-01-31"}, seen)
    assert isinstance(over, LineOutcome)
    assert (over.outcome, over.reason) == ("refused", "bad_lots")
    missing = screen_line(4, {"card_number": card(6)}, seen)
    assert isinstance(missing, LineOutcome)
    assert (missing.reason, missing.detail) == ("bad_field", "balance")


def test_dated_lots_expire_on_their_day_are_spent_first_and_move_with_a_merge() -> None:
    lots = PointLots({"2025-01-10": 30})
    lots.credit_until(date(2025, 3, 1), 20)
    assert lots.as_dict() == {"2025-01-10": 30, "until:2025-03-01": 20}
    assert PointLots.from_json(lots.to_json()) == lots
    assert lots.next_expiry(date(2025, 2, 1), None) == (20, date(2025, 3, 1))
    assert lots.first_expiry(None) == date(2025, 3, 1)
    lots.spend(5, balance=50)  # the dated lot first
    assert lots.as_dict() == {"2025-01-10": 30, "until:2025-03-01": 15}
    assert lots.expire(date(2025, 3, 1), None, available=45) == 15
    other = PointLots()
    other.credit_until(date(2026, 1, 1), 7)
    lots.absorb(other)
    assert (lots.as_dict(), other.as_dict()) == ({"2025-01-10": 30, "until:2026-01-01": 7}, {})


def test_a_request_takes_at_most_1000_lines() -> None:
    text = "card_number,balance\n" + "".join(f"{card(i)},1\n" for i in range(1001))
    with pytest.raises(errors.InvalidInput) as refused:
        MemberImport(InMemoryPlatform()).import_text("big", "csv", text)
    assert refused.value.code == "too_many_lines"


def test_a_csv_of_1000_members_gives_exact_outcomes_and_a_repeat_creates_nothing() -> None:
    platform = InMemoryPlatform()
    file = member_file(995)
    importer = MemberImport(platform)

    first = importer.import_text("file-a", "csv", file.text)
    again = importer.import_text("file-b", "csv", file.text)

    assert (first.lines, first.created, first.already_there, first.refused) == (1000, 995, 0, 5)
    assert {o.line: o.reason for o in first.outcomes if o.outcome == "refused"} == file.refusals
    assert (again.created, again.already_there, again.refused) == (0, 995, 5)
    assert len(platform.accounts) == 995
    for i, card in enumerate(file.cards):
        balance = platform.get_balance(platform.find_members(card_number=card)[0].member_id)
        assert (balance.balance, (balance.next_expiry_points, balance.next_expiry_on)) == (
            file.balance(i),
            file.next_expiry(i),
        ), i

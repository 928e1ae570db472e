"""Card stock service (seed 000) on the in-memory platform: CSV and JSON bodies, counts."""

from __future__ import annotations

import pytest

from loyalty_bridge import errors
from loyalty_bridge.program import card_numbers
from loyalty_bridge.services.card_stock import CardStock, csv_numbers, import_request
from tests.fakes import InMemoryPlatform


def card(n: int) -> str:
    payload = f"62{n:013d}"
    return payload + card_numbers.luhn_check_digit(payload)


def test_csv_header_is_optional_and_extra_columns_and_blank_lines_are_ignored() -> None:
    assert csv_numbers(f'card_number,note\n{card(1)},box 1\n\n"{card(2)}"\r\n') == [card(1), card(2)]
    assert csv_numbers(f"{card(1)}\n{card(2)}") == [card(1), card(2)]


def test_a_csv_import_needs_a_batch_id_and_a_json_one_is_validated() -> None:
    with pytest.raises(errors.InvalidInput):
        import_request("text/csv; charset=utf-8", card(1), None)
    assert import_request("text/csv", card(1), "b-1") == ("b-1", [card(1)])
    assert import_request("application/json", f'{{"batch_id": "b-2", "cards": ["{card(1)}"]}}', None) == (
        "b-2",
        [card(1)],
    )
    with pytest.raises(errors.InvalidInput):
        import_request(None, '{"batch_id": "b-2", "cards": []}', None)


def test_counts_repeat_and_the_request_limit() -> None:
    platform = InMemoryPlatform()
    stock = CardStock(platform)
    first = stock.import_batch("b", [card(1), card(2), card(2), "42"])
    assert (first.imported, first.already_known, first.invalid_count) == (2, 0, 2)
    again = stock.import_batch("b", [card(1), card(2)])
    assert (again.imported, again.already_known) == (0, 2)
    only_bad = stock.import_batch("b", ["42"])
    assert (only_bad.imported, only_bad.invalid_count) == (0, 1)
    with pytest.raises(errors.InvalidInput) as refused:
        stock.import_batch("b", [card(1)] * 10_001)
    assert refused.value.code == "too_many_cards"

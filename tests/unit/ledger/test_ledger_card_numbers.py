"""Virtual card numbers: unguessable, check digit, validation."""

from __future__ import annotations

import itertools

import pytest

from loyalty_bridge.program import card_numbers


def test_known_luhn_numbers() -> None:
    assert card_numbers.is_valid("79927398713")
    assert not card_numbers.is_valid("79927398710")
    assert card_numbers.luhn_check_digit("7992739871") == "3"
    assert card_numbers.is_valid("4539 1488 0343 6467")  # spaces as printed on cards
    assert card_numbers.is_valid("4539-1488-0343-6467")


@pytest.mark.parametrize("number", ["", "1234567", "abcdefghijk", "7992739871x", "٧٩٩٢٧٣٩٨٧١٣", "1" * 20])
def test_malformed_numbers_are_invalid(number: str) -> None:
    assert not card_numbers.is_valid(number)


def test_virtual_numbers_are_valid_random_and_distinct() -> None:
    drawn = [card_numbers.new_virtual_number() for _ in range(2000)]

    assert all(card_numbers.is_valid(n) and len(n) == 16 and n.startswith("29") for n in drawn)
    assert len(set(drawn)) == len(drawn)
    # Not sequential: consecutive draws are far apart.
    bodies = [int(n[2:-1]) for n in drawn]
    assert sum(1 for a, b in itertools.pairwise(bodies) if abs(a - b) < 1000) < 3


def test_a_single_typo_is_caught() -> None:
    number = card_numbers.new_virtual_number()
    for position in range(len(number)):
        digit = int(number[position])
        typo = number[:position] + str((digit + 1) % 10) + number[position + 1 :]
        assert not card_numbers.is_valid(typo)


def test_numbers_too_short_to_be_unguessable_are_refused() -> None:
    with pytest.raises(ValueError, match="unguessable"):
        card_numbers.new_virtual_number(prefix="12345", length=12)

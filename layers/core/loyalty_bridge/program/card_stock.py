"""Card stock (seed 000), the program's side: which printed numbers are importable.

``screen`` is the one rule for which numbers are importable (every platform implementation
applies it too): ASCII digits once spaces and dashes are removed, 8-19 digits, a correct
Luhn check digit, and each number once per file. ``result`` is the answer of an import.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from loyalty_bridge.models.card_stock import MAX_INVALID_LISTED, CardImportResult, InvalidCard, InvalidReason
from loyalty_bridge.program import card_numbers


@dataclass(frozen=True)
class Screened:
    valid: list[str]  # normalised, each once, in file order
    invalid: list[InvalidCard]


def reason_refused(number: str) -> InvalidReason | None:
    """Why ``number`` (normalised) is not importable, or None when it is."""
    if not (number.isascii() and number.isdigit()):
        return "not_a_number"
    if not card_numbers.MIN_LENGTH <= len(number) <= card_numbers.MAX_LENGTH:
        return "length"
    if card_numbers.luhn_check_digit(number[:-1]) != number[-1]:
        return "check_digit"
    return None


def screen(numbers: Sequence[str]) -> Screened:
    seen: set[str] = set()
    valid: list[str] = []
    invalid: list[InvalidCard] = []
    for raw in numbers:
        number = card_numbers.normalize(raw)
        reason = reason_refused(number)
        if reason is None and number in seen:
            reason = "duplicate_in_file"
        if reason is not None:
            invalid.append(InvalidCard(number=raw.strip()[:64], reason=reason))
            continue
        seen.add(number)
        valid.append(number)
    return Screened(valid, invalid)


def result(
    batch_id: str,
    imported: int,
    already_known: int,
    invalid: Sequence[InvalidCard],
    invalid_count: int | None = None,
) -> CardImportResult:
    """The answer, listing at most MAX_INVALID_LISTED refused numbers (``invalid_count`` says
    how many there were in all)."""
    return CardImportResult(
        batch_id=batch_id,
        imported=imported,
        already_known=already_known,
        invalid=list(invalid[:MAX_INVALID_LISTED]),
        invalid_count=len(invalid) if invalid_count is None else invalid_count,
    )

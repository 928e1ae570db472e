"""Loyalty card numbers: unguessable virtual numbers with a Luhn check digit.

Virtual numbers are drawn from ``secrets`` (never sequential), so knowing one card number
says nothing about another. The Luhn digit catches typing errors before we look anything
up. Physical card stock is imported with its printed numbers, which must pass the same check.
"""

from __future__ import annotations

import secrets

VIRTUAL_PREFIX = "29"
VIRTUAL_LENGTH = 16
MIN_LENGTH = 8
MAX_LENGTH = 19


def luhn_check_digit(payload: str) -> str:
    """The digit that makes ``payload + digit`` pass the Luhn check."""
    if not payload.isdigit() or not payload.isascii():
        raise ValueError("card payload must be digits")
    total = 0
    # Walk from the right; the check digit will sit right of payload, so the first payload
    # digit from the right is doubled.
    for index, char in enumerate(reversed(payload)):
        digit = int(char)
        if index % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


def normalize(number: str) -> str:
    """Strip the spaces and dashes people type or print on cards."""
    return "".join(ch for ch in number.strip() if ch not in " -")


def is_valid(number: str) -> bool:
    """A well-formed card number: ASCII digits, plausible length, correct check digit."""
    candidate = normalize(number)
    if not (candidate.isascii() and candidate.isdigit()):
        return False
    if not MIN_LENGTH <= len(candidate) <= MAX_LENGTH:
        return False
    return luhn_check_digit(candidate[:-1]) == candidate[-1]


def new_virtual_number(prefix: str = VIRTUAL_PREFIX, length: int = VIRTUAL_LENGTH) -> str:
    """A fresh random card number (``length`` digits including the check digit)."""
    random_digits = length - len(prefix) - 1
    if random_digits < 10:
        raise ValueError("card numbers need at least 10 random digits to be unguessable")
    body = prefix + "".join(str(secrets.randbelow(10)) for _ in range(random_digits))
    return body + luhn_check_digit(body)

"""privacy.py: one email comparison, and a platform's answer never carries contact data."""

from __future__ import annotations

import pytest

from loyalty_bridge import errors
from loyalty_bridge.privacy import normalize_email, platform_answer


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("STRASSE@example.com", " straße@example.com"),
        ("ΣΊΣΥΦΟΣ@example.gr", "σίσυφοσ@example.gr"),
        ("Ann@Example.com ", "ann@example.com"),
    ],
)
def test_two_spellings_of_one_address_normalise_alike(one: str, other: str) -> None:
    assert normalize_email(one) == normalize_email(other)


def test_a_platform_answer_masks_emails_and_phones_in_the_detail() -> None:
    refusal = errors.PlatformRefused(
        "member ann.lee@example.com (+44 7700 900123, 447700900456) is blocked", code="member_blocked"
    )
    answer = platform_answer(refusal)
    assert answer.startswith("member_blocked: member a***@e***.com")
    for personal in ("ann.lee", "example.com", "7700 900123", "447700900456"):
        assert personal not in answer


def test_a_failure_without_an_answer_names_its_type_only() -> None:
    assert platform_answer(TimeoutError("to host 10.0.0.1 for bob@example.com")) == "TimeoutError: no answer"

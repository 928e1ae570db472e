"""program/erasure.py (D2): which values name the person, and how a kept record loses them."""

from __future__ import annotations

from datetime import date

from loyalty_bridge.models.domain import Address, MemberProfile
from loyalty_bridge.program.erasure import ERASED, erased_profile, mentions, personal_values, scrubbed


def test_personal_values_come_from_every_profile_longest_first() -> None:
    web = MemberProfile(
        email="Ann.Lee@example.com",
        first_name="Ann",
        last_name="Lee-Smith",
        mobile="+447700900001",
        birthday=date(1980, 1, 2),
        address=Address(line1="1 High St", city="York", postal_code="YO1 1AA", country="GB"),
    )
    loyalty = MemberProfile(email="old@example.com", first_name="Annie")

    found = personal_values([web, loyalty])

    assert set(found) == {
        "Ann.Lee@example.com",
        "Ann",
        "Lee-Smith",
        "+447700900001",
        "1980-01-02",
        "1 High St",
        "York",
        "YO1 1AA",
        "old@example.com",
        "Annie",
    }  # the country code (2 letters) is no one's identity
    assert found == sorted(found, key=lambda value: (-len(value), value))


def test_scrubbed_replaces_every_occurrence_whatever_its_case_and_nesting() -> None:
    personal = personal_values([MemberProfile(email="ann@example.com", first_name="Annie", last_name="Lee")])
    record = {
        "before": {"email": "ANN@example.com", "names": ["Annie", "Bob"]},
        "text": "mail to ann@example.com for annie lee failed",
        "points": 40,
    }

    erased = scrubbed(record, personal)

    assert erased == {
        "before": {"email": ERASED, "names": [ERASED, "Bob"]},
        "text": f"mail to {ERASED} for {ERASED} {ERASED} failed",
        "points": 40,
    }
    assert mentions(record, personal)
    assert not mentions(erased, personal)


def test_an_erased_profile_holds_nothing_of_the_person() -> None:
    assert personal_values([erased_profile()]) == []

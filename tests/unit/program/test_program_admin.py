"""The program as versioned data (R9) over fakes: the seed is version 1, each PUT the next
version with who and when, the history newest first and paged, the kind fixed once a member
exists, a concurrent PUT taking the next number."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from loyalty_bridge import errors
from loyalty_bridge.models.program import ProgramVersion
from loyalty_bridge.program.earn_rules import ProgramRules
from loyalty_bridge.services.program import SEED_AUTHOR, ProgramAdmin
from tests.fakes import FakeMembers, InMemoryProgramStore

NOW = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
SEED = ProgramRules.model_validate({"rules": [{"kind": "spend", "points": 1, "per": 1}], "expiry_months": 12})
RICHER = ProgramRules.model_validate({"rules": [{"kind": "spend", "points": 2, "per": 1}]})


def admin(members: FakeMembers | None = None) -> tuple[ProgramAdmin, InMemoryProgramStore]:
    store = InMemoryProgramStore()
    return ProgramAdmin(store, members or FakeMembers(), SEED, clock=lambda: NOW, sleep=lambda _: None), store


def test_before_any_put_the_program_is_the_seed_as_version_1_and_nothing_is_written() -> None:
    service, store = admin()

    current = service.current()

    assert (current.version, current.program, current.created_by, current.created_at) == (
        1,
        SEED,
        SEED_AUTHOR,
        None,
    )
    assert [v.version for v in service.versions(limit=10, cursor=None).versions] == [1]
    assert store.stored == {}


def test_the_first_put_stores_the_seed_as_version_1_and_the_program_as_version_2() -> None:
    service, _store = admin()

    stored = service.replace(RICHER, by="admin-1")

    assert (stored.version, stored.program, stored.created_by, stored.created_at) == (
        2,
        RICHER,
        "admin-1",
        NOW,
    )
    assert service.current() == stored
    listed = service.versions(limit=10, cursor=None).versions
    assert [(v.version, v.created_by, v.created_at) for v in listed] == [
        (2, "admin-1", NOW),
        (1, SEED_AUTHOR, NOW),
    ]
    assert listed[1].program == SEED


def test_each_put_is_the_next_version_and_the_history_pages_newest_first() -> None:
    service, _ = admin()
    for _ in range(3):
        service.replace(RICHER, by="admin-1")

    first = service.versions(limit=2, cursor=None)
    second = service.versions(limit=2, cursor=first.next_cursor)

    assert [v.version for v in first.versions] == [4, 3]
    assert [v.version for v in second.versions] == [2, 1]
    assert second.next_cursor is None


def test_a_put_racing_another_takes_the_next_number() -> None:
    service, store = admin()
    service.replace(RICHER, by="admin-1")
    store.race = ProgramVersion(version=3, program=SEED, created_by="admin-2", created_at=NOW)

    mine = service.replace(RICHER, by="admin-1")

    assert mine.version == 4
    assert [store.stored[n].created_by for n in sorted(store.stored)] == [
        SEED_AUTHOR,
        "admin-1",
        "admin-2",
        "admin-1",
    ]


def test_the_kind_may_change_while_no_member_exists() -> None:
    service, _ = admin(FakeMembers(exist=False))

    stored = service.replace(SEED.model_copy(update={"kind": "discount"}), by="admin-1")

    assert (stored.version, stored.program.kind) == (2, "discount")


def test_once_a_member_exists_a_kind_change_is_refused_and_nothing_is_stored() -> None:
    service, store = admin(FakeMembers(exist=True))
    service.replace(RICHER, by="admin-1")  # same kind: fine

    with pytest.raises(errors.ProgramKindLocked) as refused:
        service.replace(RICHER.model_copy(update={"kind": "discount"}), by="admin-1")

    assert refused.value.code == "program_kind_locked"
    assert sorted(store.stored) == [1, 2]
    assert service.current().program.kind == "points"


def test_program_fields_added_for_r9_default_to_todays_behaviour() -> None:
    assert (SEED.kind, SEED.currency) == ("points", "EUR")
    with pytest.raises(ValidationError, match="currency"):
        ProgramRules.model_validate({"currency": "euro"})
    with pytest.raises(ValidationError, match="kind"):
        ProgramRules.model_validate({"kind": "cashback"})

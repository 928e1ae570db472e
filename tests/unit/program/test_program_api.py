"""The program's routes over fake-backed services: admin read, PUT (who = the admin key id,
validated by ProgramRules, idempotent), versions; the storefront's GET /v1/program with
ETag, Cache-Control and 304; admin scope enforced. And ParameterProgramSource over a fake
Parameters provider: the seed while nothing is stored, one parse per change, the last
program kept when a refresh fails."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from loyalty_bridge import errors, wiring
from loyalty_bridge.adapters.program_store import CURRENT_PK, CURRENT_SK, ParameterProgramSource
from loyalty_bridge.models.program import ProgramVersion
from loyalty_bridge.program.earn_rules import ProgramRules
from loyalty_bridge.services.program import ProgramAdmin, StorefrontProgramView
from tests.fakes import FakeMembers, FixedProgramSource, InMemoryProgramStore
from tests.lambda_harness import signed_http_event
from tests.unit.profile.api_calls import ADMIN_KEY, SECRET, STOREFRONT_KEY, handler_with, invoke, signed_call

SEED = ProgramRules()
PROGRAM = {"rules": [{"kind": "sku", "skus": ["COFFEE-1"], "points_per_item": 5}], "expiry_months": 12}


@pytest.fixture
def admin(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    wiring.reset()
    service = ProgramAdmin(InMemoryProgramStore(), FakeMembers(exist=True), SEED)
    yield handler_with("admin_api", monkeypatch, program_admin=service)
    wiring.reset()


@pytest.fixture
def storefront(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    wiring.reset()
    view = StorefrontProgramView(FixedProgramSource(ProgramRules.model_validate(PROGRAM), version=7))
    yield handler_with("membership_api", monkeypatch, program=view)
    wiring.reset()


def test_an_admin_puts_the_whole_program_and_reads_it_back_with_who_and_when(admin: ModuleType) -> None:
    before = signed_call(admin, "GET", "/v1/admin/program", key_id=ADMIN_KEY)
    put = signed_call(admin, "PUT", "/v1/admin/program", PROGRAM, key_id=ADMIN_KEY)
    after = signed_call(admin, "GET", "/v1/admin/program", key_id=ADMIN_KEY)
    listed = signed_call(admin, "GET", "/v1/admin/program/versions", key_id=ADMIN_KEY, query="limit=1")

    assert (before.status, before.body["version"], before.body["created_by"]) == (200, 1, "EarnRulesJson")
    assert (put.status, put.body["version"], put.body["created_by"]) == (200, 2, ADMIN_KEY)
    assert put.body["created_at"] is not None
    assert put.body["program"]["rules"][0]["skus"] == ["COFFEE-1"]
    assert after.body == put.body
    assert [v["version"] for v in listed.body["versions"]] == [2]
    more = signed_call(
        admin,
        "GET",
        "/v1/admin/program/versions",
        key_id=ADMIN_KEY,
        query=f"cursor={listed.body['next_cursor']}",
    )
    assert [v["version"] for v in more.body["versions"]] == [1]


def test_a_repeated_put_under_the_same_idempotency_key_stores_one_version(admin: ModuleType) -> None:
    def put() -> Any:
        event = signed_http_event(
            "PUT", "/v1/admin/program", key_id=ADMIN_KEY, secret=SECRET, body=PROGRAM, idempotency_key="same"
        )
        return invoke(admin, event)

    first, second = put(), put()

    assert (first.body["version"], second.body["version"]) == (2, 2)
    versions = signed_call(admin, "GET", "/v1/admin/program/versions", key_id=ADMIN_KEY)
    assert [v["version"] for v in versions.body["versions"]] == [2, 1]


def test_an_invalid_program_is_422_and_stores_nothing(admin: ModuleType) -> None:
    bad = {"tiers": [{"name": "Gold", "min_spend": 100}]}  # the first tier must start at 0

    answer = signed_call(admin, "PUT", "/v1/admin/program", bad, key_id=ADMIN_KEY)

    # A rule across fields (no schema states it): its own code, not validation_failed.
    assert (answer.status, answer.body["code"]) == (422, "invalid_program")
    assert signed_call(admin, "GET", "/v1/admin/program", key_id=ADMIN_KEY).body["version"] == 1


def test_a_kind_change_once_members_exist_is_409_program_kind_locked(admin: ModuleType) -> None:
    answer = signed_call(admin, "PUT", "/v1/admin/program", {**PROGRAM, "kind": "discount"}, key_id=ADMIN_KEY)

    assert (answer.status, answer.body["code"]) == (409, "program_kind_locked")


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/admin/program"), ("PUT", "/v1/admin/program"), ("GET", "/v1/admin/program/versions")],
)
def test_a_storefront_key_may_not_call_the_admin_program_routes(
    admin: ModuleType, method: str, path: str
) -> None:
    answer = signed_call(admin, method, path, PROGRAM if method == "PUT" else None, key_id=STOREFRONT_KEY)

    assert (answer.status, answer.body["code"]) == (403, "forbidden")


def test_the_storefront_reads_the_program_in_words_with_an_etag(storefront: ModuleType) -> None:
    answer = signed_call(storefront, "GET", "/v1/program")

    assert answer.status == 200
    assert answer.body["version"] == 7
    assert [way["description"] for way in answer.body["ways_to_earn"]] == ["5 points for every COFFEE-1"]
    assert answer.headers["Cache-Control"] == "private, max-age=30"
    assert answer.headers["ETag"].startswith('"7-')


def test_if_none_match_with_the_current_etag_is_304_without_a_body(storefront: ModuleType) -> None:
    etag = signed_call(storefront, "GET", "/v1/program").headers["ETag"]

    def with_tags(tags: str) -> Any:
        event = signed_http_event(
            "GET", "/v1/program", key_id=STOREFRONT_KEY, secret=SECRET, headers={"If-None-Match": tags}
        )
        return invoke(storefront, event)

    same, listed, weak, other = (
        with_tags(etag),
        with_tags(f'"x", {etag}'),
        with_tags(f"W/{etag}"),
        with_tags('"x"'),
    )

    assert [same.status, listed.status, weak.status, other.status] == [304, 304, 304, 200]
    assert same.body is None
    assert same.headers["ETag"] == etag


# ---------------------------------------------------------------- the Parameters source


class FakeProvider:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.fail = False
        self.calls: list[tuple[str, int | None]] = []

    def get_multiple(self, path: str, max_age: int | None = None) -> dict[str, Any]:
        self.calls.append((path, max_age))
        if self.fail:
            raise GetParameterError("throttled")
        return dict(self.values)


def stored(version: int, rules: ProgramRules) -> str:
    return ProgramVersion(version=version, program=rules, created_by="admin-1").model_dump_json()


def test_the_source_answers_the_seed_until_a_version_is_stored_then_that_version() -> None:
    provider = FakeProvider()
    source = ParameterProgramSource(provider, SEED, max_age=30)
    program = ProgramRules.model_validate(PROGRAM)

    seeded = source.current()
    provider.values = {CURRENT_SK: stored(2, program)}
    first, second = source.current(), source.current()

    assert seeded == (1, SEED)
    assert first == (2, program)
    assert second[1] is first[1]
    assert provider.calls == [(CURRENT_PK, 30)] * 3


def test_a_failed_refresh_keeps_the_last_program_and_a_first_failure_is_retryable() -> None:
    provider = FakeProvider()
    provider.values = {CURRENT_SK: stored(3, SEED)}
    source = ParameterProgramSource(provider, ProgramRules.model_validate(PROGRAM))
    assert source.current()[0] == 3

    provider.fail = True

    assert source.current()[0] == 3
    with pytest.raises(errors.Retryable):
        ParameterProgramSource(provider, SEED).current()

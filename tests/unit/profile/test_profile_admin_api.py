"""admin_api (P2) driven by real-shaped HTTP API v2 events over fake-backed services: what an
admin sees when listing errors (masked), reading one (in full), replaying one after a fix and
closing one fixed by hand; unknown ids, bad queries and storefront keys."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import pytest

from loyalty_bridge import wiring
from loyalty_bridge.models.records import ErrorStatus
from loyalty_bridge.services.incidents import error_route
from tests.lambda_harness import load_event
from tests.unit.profile.api_calls import ADMIN_KEY, handler_with, signed_call
from tests.unit.profile.conftest import World, refused_email_change


@pytest.fixture
def admin(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    wiring.reset()
    yield handler_with("admin_api", monkeypatch, admin_errors=world.admin)
    wiring.reset()


def test_the_listing_shows_open_errors_masked(admin: ModuleType, world: World) -> None:
    record = refused_email_change(world)
    sample = load_event("admin_api_list_errors.json")

    answer = signed_call(admin, "GET", sample["rawPath"], query=sample["rawQueryString"], key_id=ADMIN_KEY)

    assert answer.status == 200
    assert answer.body["next_cursor"] is None
    [listed] = answer.body["errors"]
    assert (listed["error_id"], listed["category"], listed["status"]) == (
        record.error_id,
        "account_update",
        "open",
    )
    assert listed["change_after"] == {"email": "t***@e***.org", "mobile": "***543"}
    assert listed["action"]


def test_the_route_the_email_names_reads_one_error_in_full(admin: ModuleType, world: World) -> None:
    record = refused_email_change(world)

    answer = signed_call(admin, "GET", error_route(record.error_id), key_id=ADMIN_KEY)

    assert answer.status == 200
    assert answer.body["error_id"] == record.error_id
    assert answer.body["change_before"] == {"email": "c-1@example.com", "mobile": "+15550000001"}
    assert answer.body["change_after"] == {"email": "taken@example.org", "mobile": "+15559876543"}


def test_a_replay_after_the_fix_is_202_and_resolves_the_error(admin: ModuleType, world: World) -> None:
    record = refused_email_change(world)
    path = f"{error_route(record.error_id)}/replay"

    answer = signed_call(admin, "POST", path, key_id=ADMIN_KEY)

    assert (answer.status, answer.body) == (
        202,
        {"error_id": record.error_id, "status": "replaying", "queue": "profile_sync"},
    )
    world.run()  # the platform takes the change this time
    assert world.platform.get_member(world.member_of("c-1")).profile.email == "taken@example.org"
    stored = world.errors.get(record.error_id)
    assert stored is not None
    assert stored.status == ErrorStatus.RESOLVED
    again = signed_call(admin, "POST", path, key_id=ADMIN_KEY)
    assert (again.status, again.body["code"]) == (409, "already_resolved")


def test_an_error_fixed_by_hand_is_resolved_with_a_note(admin: ModuleType, world: World) -> None:
    record = refused_email_change(world)

    answer = signed_call(
        admin,
        "POST",
        f"{error_route(record.error_id)}/resolve",
        {"note": "fixed on the platform"},
        key_id=ADMIN_KEY,
    )

    assert (answer.status, answer.body) == (200, {"error_id": record.error_id, "status": "resolved"})
    listed = signed_call(admin, "GET", "/v1/admin/errors", query="status=open", key_id=ADMIN_KEY)
    assert listed.body["errors"] == []


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/admin/errors/account_update%3Anope", None),
        ("POST", "/v1/admin/errors/nope/replay", None),
        ("POST", "/v1/admin/errors/nope/resolve", {}),
    ],
)
def test_an_unknown_error_is_404(
    admin: ModuleType, method: str, path: str, body: dict[str, str] | None
) -> None:
    answer = signed_call(admin, method, path, body, key_id=ADMIN_KEY)

    assert (answer.status, answer.body["code"]) == (404, "error_not_found")


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "category=parking", "status=lost"])
def test_a_bad_listing_query_is_422(admin: ModuleType, query: str) -> None:
    answer = signed_call(admin, "GET", "/v1/admin/errors", query=query, key_id=ADMIN_KEY)

    assert (answer.status, answer.body["code"]) == (422, "validation_failed")


def test_a_storefront_key_may_not_use_the_admin_routes(admin: ModuleType, world: World) -> None:
    record = refused_email_change(world)

    assert signed_call(admin, "GET", "/v1/admin/errors").status == 403
    assert signed_call(admin, "POST", f"{error_route(record.error_id)}/replay").status == 403
    stored = world.errors.get(record.error_id)
    assert stored is not None
    assert stored.status == ErrorStatus.OPEN

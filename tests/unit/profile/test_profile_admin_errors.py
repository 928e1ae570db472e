"""Issue 17 (items 2, 3): an Account Update Error can be fixed by hand from the admin read of
one error (the whole change, unmasked), while the listing and the email stay masked and the
email names that read's exact route; every record's ``action`` comes from one place, so the
listing, the single read and the email show the same, never empty, text."""

from __future__ import annotations

import pytest

from loyalty_bridge import errors
from loyalty_bridge.models.records import DEFAULT_ACTION, ErrorCategory, ErrorRecord
from loyalty_bridge.privacy import error_id_for
from loyalty_bridge.services.admin import error_detail, error_view
from loyalty_bridge.services.incidents import error_route
from tests.unit.profile.conftest import World, refused_email_change


def test_the_admin_read_of_one_error_has_the_full_change_the_listing_masks(world: World) -> None:
    record = refused_email_change(world)

    detail = error_detail(world.admin.get(record.error_id))

    assert detail.change_before == {"email": "c-1@example.com", "mobile": "+15550000001"}
    assert detail.change_after == {"email": "taken@example.org", "mobile": "+15559876543"}
    [listed], _ = world.admin.list(category="account_update", status=None, limit=10, cursor=None)
    view = error_view(listed)
    assert view.change_before == {"email": "c***@e***.com", "mobile": "***001"}
    assert view.change_after == {"email": "t***@e***.org", "mobile": "***543"}
    assert view.model_dump(exclude={"change_before", "change_after"}) == detail.model_dump(
        exclude={"change_before", "change_after"}
    )


def test_the_email_stays_masked_and_names_the_exact_read_route(world: World) -> None:
    record = refused_email_change(world)

    [mail] = world.mailer.sent
    route = f"/v1/admin/errors/{record.error_id.replace(':', '%3A')}"
    assert error_route(record.error_id) == route
    assert f"GET {route}" in mail.text
    assert f"POST {route}/replay" in mail.text
    assert "email: c***@e***.com -> t***@e***.org" in mail.text
    for value in ("c-1@example.com", "taken@example.org", "+15550000001", "+15559876543"):
        assert value not in mail.text


def test_reading_an_unknown_error_is_not_found(world: World) -> None:
    with pytest.raises(errors.NotFound) as missing:
        world.admin.get("account_update:nope")
    assert missing.value.code == "error_not_found"


def test_an_unreadable_message_is_masked_in_the_listing_and_whole_in_the_read(world: World) -> None:
    raw = "{not an envelope from ann@example.com, +15551234567"
    record = ErrorRecord(
        error_id=error_id_for(ErrorCategory.ACCOUNT_UPDATE, "unreadable", "m-1"),
        category=ErrorCategory.ACCOUNT_UPDATE,
        attempted="process a message",
        replay={"queue": "profile_sync", "raw": raw},
    )
    world.incidents.report(record)

    assert error_detail(world.admin.get(record.error_id)).raw_message == raw
    assert "ann@example.com" not in (error_view(record).raw_message or "")


@pytest.mark.parametrize("category", list(ErrorCategory))
def test_a_record_without_an_action_gets_its_categorys_and_shows_it_everywhere(
    world: World, category: ErrorCategory
) -> None:
    record = ErrorRecord(error_id=error_id_for(category, "k-1"), category=category, attempted="something")
    world.incidents.report(record)

    stored = world.admin.get(record.error_id)
    assert stored.action == DEFAULT_ACTION[category] != ""
    [listed], _ = world.admin.list(category=category.value, status=None, limit=10, cursor=None)
    assert error_view(listed).action == error_detail(stored).action == stored.action
    [mail] = world.mailer.sent
    assert f"What to do: {stored.action}" in mail.text


def test_a_creators_own_action_is_kept_and_a_stored_empty_one_reads_back_filled() -> None:
    own = ErrorRecord(
        error_id="new_order:o-1", category=ErrorCategory.NEW_ORDER, attempted="x", action="Call the shop."
    )
    assert own.action == "Call the shop."
    # A record stored before the action was filled in (data with "action": "").
    legacy = ErrorRecord.model_validate(own.model_dump(mode="json") | {"action": "  "})
    assert legacy.action == DEFAULT_ACTION[ErrorCategory.NEW_ORDER]

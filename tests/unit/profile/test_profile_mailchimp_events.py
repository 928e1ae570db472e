"""P5: Mailchimp audience events reach every known customer through the email index, even
one the bridge never synced; cleaned and upemail are handled, profile stays ignored."""

from __future__ import annotations

from loyalty_bridge.models.api_profile import MailchimpWebhook
from loyalty_bridge.models.domain import Consents
from loyalty_bridge.models.messages import SyncedFields
from tests.unit.profile.conftest import World


def _event(kind: str, **data: str) -> MailchimpWebhook:
    return MailchimpWebhook.model_validate({"type": kind, "data": {"list_id": "L1", **data}})


def test_an_unsubscribe_for_a_customer_never_synced_reaches_the_platform(world: World) -> None:
    world.customer("c-1", consents=Consents(email=True, sms=True))
    assert world.state.customer_for_email("c-1@example.com") is None  # never pushed to Mailchimp

    result = world.updates.apply_mailchimp_event(
        _event("unsubscribe", email=" C-1@Example.com "), list_id="L1"
    )
    world.run()

    assert result == "applied"
    assert world.platform.get_member(world.member_of("c-1")).consents == Consents(email=False, sms=True)


def test_an_unsubscribe_applies_to_every_web_account_with_that_email(world: World) -> None:
    world.customer("c-1", email="shared@example.com", consents=Consents(email=True, sms=False))
    world.customer("c-2", email="Shared@Example.com", joined=False, consents=Consents(email=True, sms=True))

    assert world.updates.apply_mailchimp_event(
        _event("unsubscribe", email="shared@example.com"), list_id="L1"
    ) == ("applied")
    world.run()

    for customer_id, sms in (("c-1", False), ("c-2", True)):
        record = world.customers.get(customer_id)
        assert record is not None
        assert record.consents == Consents(email=False, sms=sms)
    assert world.platform.get_member(world.member_of("c-1")).consents.email is False


def test_an_unsubscribe_is_not_echoed_back_to_mailchimp(world: World) -> None:
    world.customer("c-1")
    world.updates.set_consents("c-1", Consents(email=True, sms=False))
    world.run()
    pushes = len(world.mailchimp.upserts)

    world.updates.apply_mailchimp_event(_event("unsubscribe", email="c-1@example.com"), list_id="L1")
    outcomes = world.run()

    assert world.platform.get_member(world.member_of("c-1")).consents.email is False
    assert len(world.mailchimp.upserts) == pushes
    assert "mailchimp" in outcomes[0].skipped
    # A later opt-in on the website does reach Mailchimp (versions still move on).
    world.updates.set_consents("c-1", Consents(email=True, sms=False))
    world.run()
    assert world.mailchimp.upserts[-1].subscribed is True


def test_an_unsubscribe_under_the_address_mailchimp_still_has_reaches_a_customer_who_moved(
    world: World,
) -> None:
    world.customer("c-1", consents=Consents(email=True, sms=False))
    world.updates.set_consents("c-1", Consents(email=True, sms=True))
    world.run()  # Mailchimp files c-1 under c-1@example.com
    world.updates.update_profile("c-1", SyncedFields(email="moved@example.com"))  # not synced yet

    assert world.updates.apply_mailchimp_event(
        _event("unsubscribe", email="c-1@example.com"), list_id="L1"
    ) == ("applied")
    record = world.customers.get("c-1")
    assert record is not None
    assert record.consents.email is False


def test_a_cleaned_address_turns_email_consent_off_and_changes_nothing_else(world: World) -> None:
    world.customer("c-1", consents=Consents(email=True, sms=True))
    before = world.customers.get("c-1")
    assert before is not None

    assert world.updates.apply_mailchimp_event(
        _event("cleaned", email="c-1@example.com", reason="hard"), list_id="L1"
    ) == ("applied")
    world.run()

    after = world.customers.get("c-1")
    assert after is not None
    assert after.consents == Consents(email=False, sms=True)
    bookkeeping = {"consents", "version", "updated_at", "changes"}
    assert after.model_dump(exclude=bookkeeping) == before.model_dump(exclude=bookkeeping)
    [note] = after.changes  # D1: the record notes the change (the export lists it)
    assert (note.source, note.consents) == ("mailchimp:cleaned", Consents(email=False, sms=True))
    assert world.platform.get_member(world.member_of("c-1")).consents == Consents(email=False, sms=True)
    assert world.errors.records == {}


def test_an_email_changed_in_mailchimp_is_where_later_syncs_go_and_the_web_email_stays(world: World) -> None:
    world.customer("c-1")
    world.updates.set_consents("c-1", Consents(email=True, sms=False))
    world.run()

    result = world.updates.apply_mailchimp_event(
        _event("upemail", old_email="c-1@example.com", new_email="ann.mc@example.com"), list_id="L1"
    )

    assert result == "applied"
    assert world.queue.messages == []
    record = world.customers.get("c-1")
    assert record is not None
    assert record.email == "c-1@example.com"
    world.updates.update_profile("c-1", SyncedFields(first_name="Annie"))
    world.run()
    assert world.mailchimp.upserts[-1].email == "ann.mc@example.com"
    # An unsubscribe under the new Mailchimp address finds the customer.
    world.updates.apply_mailchimp_event(_event("unsubscribe", email="ann.mc@example.com"), list_id="L1")
    record = world.customers.get("c-1")
    assert record is not None
    assert record.consents.email is False


def test_upemail_and_profile_for_strangers_or_profile_edits_change_nothing(world: World) -> None:
    world.customer("c-1")
    moved = _event("upemail", old_email="nobody@example.com", new_email="x@example.com")
    profile = _event("profile", email="c-1@example.com")

    assert world.updates.apply_mailchimp_event(moved, list_id="L1") == "ignored"
    assert world.updates.apply_mailchimp_event(profile, list_id="L1") == "ignored"
    assert world.queue.messages == []
    assert world.state.customer_for_email("x@example.com") is None

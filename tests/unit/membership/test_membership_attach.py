"""Attach an existing card with an emailed code (A4), one account both ways (A5)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from loyalty_bridge import errors
from loyalty_bridge.models.domain import LoyaltyStatus
from loyalty_bridge.models.records import ErrorCategory
from loyalty_bridge.models.verification import Purpose
from loyalty_bridge.observability import MetricName
from loyalty_bridge.program import card_numbers
from loyalty_bridge.services.attach import NOT_ATTACHABLE
from loyalty_bridge.services.enrolment import Outcome
from tests.unit.membership.conftest import World, make_world

PHYSICAL = "6000000000000" + card_numbers.luhn_check_digit("6000000000000")


def _not_joined(world: World, customer_id: str = "c-1", email: str = "ann@example.com") -> None:
    world.sign_up(customer_id, email=email, join=False)


def test_attach_with_matching_email_mails_a_code_to_the_card_and_the_code_attaches(world: World) -> None:
    card = world.existing_member("Ann@Example.com ").card.number
    _not_joined(world)
    challenge = world.attach.start("c-1", card, "  ANN@example.com")
    assert world.status("c-1") is LoyaltyStatus.VERIFYING
    assert len(world.customer_mail("Ann@Example.com ")) == 1  # the card account's address
    assert challenge.code_hash
    code = world.last_code("Ann@Example.com ")
    assert code not in challenge.code_hash
    record = world.attach.confirm("c-1", code)
    assert record.status is LoyaltyStatus.JOINED
    assert record.card_number == card
    summary = world.summary.summary("c-1")
    assert summary.card is not None
    assert summary.card.number == card
    assert world.metrics.counts[MetricName.ATTACH_COMPLETED] == 1
    assert world.verifications.get_challenge("c-1", Purpose.ATTACH) is None


def test_a_never_registered_physical_card_takes_the_customers_details(world: World) -> None:
    world.platform.import_physical_cards([PHYSICAL])
    _not_joined(world)
    world.attach.start("c-1", PHYSICAL, "ann@example.com")
    record = world.attach.confirm("c-1", world.last_code("ann@example.com"))
    assert record.status is LoyaltyStatus.JOINED
    assert record.card_kind == "physical"
    member = world.platform.get_member(record.member_id or "")
    assert member.profile.email == "ann@example.com"
    assert member.profile.first_name == "Ann"


def _attempt(world: World, customer_id: str, card: str) -> tuple[str, str]:
    """Start and confirm with the right code; the (code, detail) of the refusal."""
    world.attach.start(customer_id, card, "ann@example.com")
    with pytest.raises(errors.BridgeError) as caught:
        world.attach.confirm(customer_id, world.last_code("ann@example.com"))
    return caught.value.code, caught.value.detail


def test_wrong_card_wrong_email_blocked_card_and_linked_card_get_one_identical_reply() -> None:
    world = make_world()
    wrong_email_card = world.existing_member("someone.else@example.com").card.number
    a = world.existing_member("ann.old@example.com", mobile="+447700900001")
    b = world.existing_member("ann.older@example.com", mobile="+447700900001")
    world.platform.merge_cards(a.card.number, [b.card.number], idempotency_key="merge-1")  # blocks b's card
    unknown = "7000000000000" + card_numbers.luhn_check_digit("7000000000000")
    taken = world.existing_member("taken@example.com").card.number
    world.customers.link_member("c-other", world.platform.find_members(card_number=taken)[0].member_id, taken)

    replies = []
    for index, card in enumerate([unknown, wrong_email_card, b.card.number, taken]):
        customer_id = f"c-{index}"
        _not_joined(world, customer_id)
        replies.append(_attempt(world, customer_id, card))
        assert world.status(customer_id) is LoyaltyStatus.NOT_JOINED
    assert replies == [("card_not_attachable", NOT_ATTACHABLE)] * 4
    # Every start answered the same way too: a code was mailed each time.
    assert len(world.customer_mail("ann@example.com")) == 4
    categories = {r.category for r in world.errors.records.values()}
    assert categories == {ErrorCategory.ATTACH_ACCOUNT}
    assert len(world.errors.records) == 4
    assert world.metrics.counts[MetricName.ATTACH_FAILED] == 4
    texts = "\n".join(m.text for m in world.admin_mail())
    assert "blocked" in texts
    assert "different" in texts
    assert "already linked" in texts
    assert "ann@example.com" not in texts


def test_an_email_other_than_the_web_accounts_is_refused_at_once_with_the_same_reply(world: World) -> None:
    card = world.existing_member("ann@example.com", key="k").card.number
    _not_joined(world)
    with pytest.raises(errors.CardNotAttachable) as caught:
        world.attach.start("c-1", card, "bob@example.com")
    assert caught.value.detail == NOT_ATTACHABLE
    assert world.customer_mail("ann@example.com") == []
    assert world.customer_mail("bob@example.com") == []


def test_a_wrong_code_allows_five_tries_then_the_attach_lapses(world: World) -> None:
    card = world.existing_member("ann@example.com").card.number
    _not_joined(world)
    world.attach.start("c-1", card, "ann@example.com")
    right = world.last_code("ann@example.com")
    wrong = "000000" if right != "000000" else "111111"
    for left in (4, 3, 2, 1, 0):
        with pytest.raises(errors.Refused) as caught:
            world.attach.confirm("c-1", wrong)
        assert caught.value.code == "invalid_code"
        assert caught.value.context["tries_left"] == left
    with pytest.raises(errors.Refused):
        world.attach.confirm("c-1", right)  # too late: the code is used up
    summary = world.summary.summary("c-1")
    assert summary.status is LoyaltyStatus.NOT_JOINED
    assert summary.join_prompt is True


def test_a_code_expires_after_ten_minutes(world: World) -> None:
    card = world.existing_member("ann@example.com").card.number
    _not_joined(world)
    world.attach.start("c-1", card, "ann@example.com")
    code = world.last_code("ann@example.com")
    world.clock.advance(minutes=10, seconds=1)
    assert world.summary.summary("c-1").status is LoyaltyStatus.NOT_JOINED  # lapsed: join prompt again
    with pytest.raises(errors.Refused) as caught:
        world.attach.confirm("c-1", code)
    assert caught.value.code == "invalid_code"
    assert world.status("c-1") is not LoyaltyStatus.JOINED


def test_attempts_are_limited_per_customer_with_retry_after(world: World) -> None:
    card = world.existing_member("ann@example.com").card.number
    _not_joined(world)
    for _ in range(5):
        world.attach.start("c-1", card, "ann@example.com")
    with pytest.raises(errors.TooManyRequests) as caught:
        world.attach.start("c-1", card, "ann@example.com")
    assert 0 < caught.value.retry_after <= 3600
    world.clock.advance(seconds=caught.value.retry_after)
    world.attach.start("c-1", card, "ann@example.com")  # a new window


def test_attempts_are_limited_per_card_across_customers(world: World) -> None:
    card = world.existing_member("ann@example.com").card.number
    for index in range(5):
        _not_joined(world, f"c-{index}")
        world.attach.start(f"c-{index}", card, "ann@example.com")
    _not_joined(world, "c-9")
    with pytest.raises(errors.TooManyRequests):
        world.attach.start("c-9", card, "ann@example.com")


def test_a_joined_customer_cannot_attach_a_second_account(world: World) -> None:
    card = world.existing_member("other@example.com").card.number
    world.sign_up("c-1")
    world.run_worker()
    with pytest.raises(errors.Conflict):
        world.attach.start("c-1", card, "ann@example.com")


def test_the_code_is_stored_only_as_a_keyed_hash(world: World) -> None:
    card = world.existing_member("ann@example.com").card.number
    _not_joined(world)
    world.attach.start("c-1", card, "ann@example.com")
    code = world.last_code("ann@example.com")
    stored = world.verifications.get_challenge("c-1", Purpose.ATTACH)
    assert stored is not None
    assert code not in stored.model_dump_json()
    assert stored.expires_at - world.clock() == timedelta(minutes=10)
    assert stored.tries_left == 5


def test_card_number_at_signup_starts_an_attach_in_the_background(world: World) -> None:
    card = world.existing_member("ann@example.com").card.number
    record = world.sign_up("c-1", card_number=card)
    assert record.status is LoyaltyStatus.VERIFYING
    assert world.run_worker() == [Outcome.CODE_SENT]
    joined = world.attach.confirm("c-1", world.last_code("ann@example.com"))
    assert joined.card_number == card


def test_a_refused_attach_at_signup_leaves_a_join_prompt(world: World) -> None:
    world.existing_member("ann@example.com")
    _not_joined(world, "c-0", email="other@example.com")
    unknown = "7000000000000" + card_numbers.luhn_check_digit("7000000000000")
    world.sign_up("c-1", card_number=unknown)
    assert world.run_worker() == [Outcome.CODE_SENT]
    with pytest.raises(errors.CardNotAttachable):
        world.attach.confirm("c-1", world.last_code("ann@example.com"))
    summary = world.summary.summary("c-1")
    assert summary.status is LoyaltyStatus.NOT_JOINED
    assert summary.join_prompt is True
    assert summary.reason == "attach_refused"
    # And joining afterwards is one call (A3)... refused here: the email has an account.
    world.signup.join("c-1")
    assert world.run_worker() == [Outcome.REFUSED]


@pytest.mark.parametrize(
    ("card_email", "customer_email"),
    [
        ("STRASSE@example.com", "straße@example.com"),  # German sharp s: casefold ß = ss
        ("ΣΊΣΥΦΟΣ@example.gr", "σίσυφοσ@example.gr"),  # Greek final sigma: lower() makes it ς
        ("İZMİR@example.com.tr", "i̇zmi̇r@example.com.tr"),  # Turkish dotted capital I
    ],
)
def test_the_a4_email_check_and_one_account_per_email_agree_on_non_ascii_addresses(
    world: World, card_email: str, customer_email: str
) -> None:
    card = world.existing_member(card_email).card.number
    # The platform's rule: one account per email: the customer's spelling is the same address.
    with pytest.raises(errors.DuplicateMember):
        world.existing_member(customer_email, key="second-account")
    # So the bridge's A4 comparison takes it as the card account's address too.
    _not_joined(world, email=customer_email)
    world.attach.start("c-1", card, customer_email)
    record = world.attach.confirm("c-1", world.last_code(card_email))
    assert record.status is LoyaltyStatus.JOINED
    assert record.card_number == card


def test_a_blocked_card_of_the_customers_own_email_is_told_card_blocked_after_the_code(world: World) -> None:
    """A10: the code went to the card's own email, so its owner learns nothing new."""
    card = world.existing_member("ann@example.com").card.number
    world.platform.block_card(card, reason="lost", idempotency_key="b-1")
    _not_joined(world)
    world.attach.start("c-1", card, "ann@example.com")  # answered as for any card
    assert _attempt_confirm(world, "c-1") == ("card_blocked", 409)
    assert world.status("c-1") is LoyaltyStatus.NOT_JOINED


def _attempt_confirm(world: World, customer_id: str) -> tuple[str, int]:
    from loyalty_bridge.http_errors import status_for

    with pytest.raises(errors.BridgeError) as caught:
        world.attach.confirm(customer_id, world.last_code("ann@example.com"))
    return caught.value.code, status_for(caught.value)[0]

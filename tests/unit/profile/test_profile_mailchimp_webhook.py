"""mailchimp_webhook (P5) driven by real-shaped HTTP API v2 events over fake-backed services:
Mailchimp's GET check when the webhook is created, an unsubscribe applied through the ordered
sync, a wrong secret (401, nothing changed) and bodies that are not a Mailchimp event (422)."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from loyalty_bridge import wiring
from loyalty_bridge.adapters.mailchimp import MailchimpCredentials
from loyalty_bridge.models.domain import Consents
from loyalty_bridge.settings import Settings
from tests.lambda_harness import http_event, load_event
from tests.unit.profile.api_calls import Answer, handler_with, invoke
from tests.unit.profile.conftest import World

SAMPLE = load_event("mailchimp_webhook_unsubscribe.json")
SECRET = SAMPLE["queryStringParameters"]["secret"]
LIST_ID = "a6b5da1054"  # data[list_id] of the sample
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture
def webhook(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    wiring.reset()
    yield handler_with(
        "mailchimp_webhook",
        monkeypatch,
        profile_updates=world.updates,
        credentials=MailchimpCredentials(api_key="k-us21", webhook_secret=SECRET),
        settings=Settings(mailchimp_list_id=LIST_ID, stage="test"),
    )
    wiring.reset()


def post(webhook: ModuleType, body: str) -> Answer:
    return invoke(
        webhook, http_event("POST", SAMPLE["rawPath"], body=body, headers=FORM, query=f"secret={SECRET}")
    )


def subscribed_ann(world: World) -> None:
    """The customer of the sample event, opted in to email and SMS, synced."""
    world.customer("c-1001", email="ann.lee@example.com", consents=Consents(email=True, sms=True))
    world.run()


def test_mailchimps_get_check_is_answered_200(webhook: ModuleType) -> None:
    answer = invoke(webhook, http_event("GET", SAMPLE["rawPath"], query=f"secret={SECRET}"))

    assert (answer.status, answer.body) == (200, {"result": "ignored"})


def test_the_sample_unsubscribe_turns_email_consent_off_and_reaches_the_platform(
    webhook: ModuleType, world: World
) -> None:
    subscribed_ann(world)

    answer = invoke(webhook, load_event("mailchimp_webhook_unsubscribe.json"))

    assert (answer.status, answer.body) == (200, {"result": "applied"})
    saved = world.customers.get("c-1001")
    assert saved is not None
    assert saved.consents == Consents(email=False, sms=True)
    world.run()
    assert world.platform.get_member(world.member_of("c-1001")).consents == Consents(email=False, sms=True)


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("secret", ["nope", ""])
def test_a_wrong_or_missing_secret_is_401_and_changes_nothing(
    webhook: ModuleType, world: World, method: str, secret: str
) -> None:
    subscribed_ann(world)
    event = load_event("mailchimp_webhook_unsubscribe.json")
    event.update(rawQueryString=f"secret={secret}", queryStringParameters={"secret": secret})
    if method == "GET":
        event = http_event("GET", SAMPLE["rawPath"], query=f"secret={secret}")

    answer = invoke(webhook, event)

    assert (answer.status, answer.body["code"]) == (401, "unauthorized")
    assert answer.headers["Content-Type"] == "application/problem+json"
    saved = world.customers.get("c-1001")
    assert saved is not None
    assert saved.consents == Consents(email=True, sms=True)
    assert world.queue.drain() == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("data%5Bemail%5D=ann.lee%40example.com", "type"),  # no type
        ('{"type": "unsubscribe"}', "type"),  # JSON, not a form
        (f"type=unsubscribe&data%5Blist_id%5D={LIST_ID}", "data[email]"),  # nobody named
    ],
)
def test_a_body_that_is_not_a_mailchimp_event_is_422(
    webhook: ModuleType, world: World, body: str, field: str
) -> None:
    subscribed_ann(world)

    answer = post(webhook, body)

    assert (answer.status, answer.body["code"]) == (422, "validation_failed")
    assert field in {error["field"] for error in answer.body.get("errors", [])}
    assert world.queue.drain() == []


def test_an_event_for_another_audience_is_ignored(webhook: ModuleType, world: World) -> None:
    subscribed_ann(world)
    body: dict[str, Any] = load_event("mailchimp_webhook_unsubscribe.json")

    answer = post(webhook, body["body"].replace(LIST_ID, "other-list"))

    assert (answer.status, answer.body) == (200, {"result": "ignored"})
    saved = world.customers.get("c-1001")
    assert saved is not None
    assert saved.consents.email is True

"""The worker and DLQ handlers on fakes: FIFO order under failure, unreadable bodies, DLQ
records. (The API handlers: test_profile_api.py, test_profile_admin_api.py,
test_profile_mailchimp_webhook.py; over moto in tests/integration/profile.)"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from loyalty_bridge import errors
from loyalty_bridge.models.domain import Consents
from loyalty_bridge.models.records import ErrorCategory, ErrorStatus
from loyalty_bridge.services.dead_letters import (
    category_for,
    dead_letter_record,
    queue_of,
    record_dead_letter,
)
from loyalty_bridge.sqs_batch import EntireBatchFailed
from tests.lambda_harness import FakeLambdaContext, load_event, load_function
from tests.unit.profile.conftest import World

FIFO_ARN = "arn:aws:sqs:us-east-1:123456789012:loyalty-bridge-ProfileSyncQueue-AB12.fifo"


def fifo_event(bodies: list[tuple[str, str]], receive_count: int = 1) -> dict[str, Any]:
    """(group id, body) pairs as the SQS event source hands a FIFO batch to Lambda."""
    return {
        "Records": [
            {
                "messageId": f"m{n}-{uuid.uuid4().hex[:6]}",
                "receiptHandle": f"r{n}",
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": str(receive_count),
                    "MessageGroupId": group,
                    "MessageDeduplicationId": f"d{n}",
                    "SequenceNumber": str(1000 + n),
                    "SentTimestamp": "1700000000000",
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": FIFO_ARN,
                "awsRegion": "us-east-1",
            }
            for n, (group, body) in enumerate(bodies)
        ]
    }


def test_a_failure_holds_back_the_rest_of_that_customers_group_only(world: World) -> None:
    world.customer("c-a")
    world.customer("c-b")
    world.updates.set_consents("c-a", Consents(email=True, sms=False))
    world.updates.set_consents("c-a", Consents(email=False, sms=False))
    world.updates.set_consents("c-b", Consents(email=True, sms=True))
    queued = world.queue.drain()
    world.platform.fail_next("update_profile", errors.PlatformUnavailable("timeout"))  # c-a's first contact
    worker = load_function("profile_sync_worker")

    event = fifo_event([(m.group_id or "", m.body) for m in queued])
    answer = worker.handle(event, FakeLambdaContext(), service=world.sync, incidents=world.incidents)

    failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
    records = event["Records"]
    assert failed == {records[0]["messageId"], records[1]["messageId"]}  # c-a's both, in order
    assert world.platform.get_member(world.member_of("c-b")).consents == Consents(email=True, sms=True)

    # Redelivered (in order), c-a ends with the last choice.
    retry = fifo_event([(m.group_id or "", m.body) for m in queued[:2]], receive_count=2)
    assert worker.handle(retry, FakeLambdaContext(), service=world.sync, incidents=world.incidents) == {
        "batchItemFailures": []
    }
    assert world.platform.get_member(world.member_of("c-a")).consents == Consents(email=False, sms=False)


def test_an_unreadable_body_is_recorded_at_once_and_consumed(world: World) -> None:
    worker = load_function("profile_sync_worker")
    event = fifo_event([("c-z", "{not json")])

    answer = worker.handle(event, FakeLambdaContext(), service=world.sync, incidents=world.incidents)

    assert answer == {"batchItemFailures": []}
    [record] = world.errors.records.values()
    assert record.category == ErrorCategory.ACCOUNT_UPDATE
    assert record.replay == {"queue": "profile_sync", "raw": "{not json"}
    assert len(world.mailer.sent) == 1


def test_a_failure_before_any_target_is_retried_then_recorded_on_the_last_delivery(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading the customer fails (the table is down): retried like a target's failure, and on
    the last delivery recorded as an Account Update Error instead of left to the DLQ."""
    world.customer("c-a")
    world.updates.set_consents("c-a", Consents(email=True, sms=False))
    [queued] = world.queue.drain()
    monkeypatch.setattr(world.customers, "get", lambda customer_id: _raise(errors.Retryable("table down")))
    worker = load_function("profile_sync_worker")
    first = fifo_event([(queued.group_id or "", queued.body)], receive_count=1)
    with pytest.raises(EntireBatchFailed):  # the whole batch failed: it comes back
        worker.handle(first, FakeLambdaContext(), service=world.sync, incidents=world.incidents)
    assert world.errors.records == {}

    last = fifo_event([(queued.group_id or "", queued.body)], receive_count=5)
    answer = worker.handle(last, FakeLambdaContext(), service=world.sync, incidents=world.incidents)
    assert answer == {"batchItemFailures": []}
    [record] = world.errors.records.values()
    assert record.category == ErrorCategory.ACCOUNT_UPDATE
    assert record.error_id.endswith(":all")
    assert "still failing after 5 attempts" in record.platform_answer
    assert record.replay["body"]["message_id"] == json.loads(queued.body)["message_id"]


def _raise(exc: BaseException) -> Any:
    raise exc


def test_the_dlq_monitor_records_each_dead_letter_once_and_reopens_a_failed_replay(world: World) -> None:
    monitor = load_function("dlq_monitor")
    world.customer("c-1")
    world.platform.fail_next("set_consents", errors.PlatformRefused("no"))
    world.updates.set_consents("c-1", Consents(email=True, sms=False))
    world.run()
    [original] = world.errors.records.values()
    world.admin.replay(original.error_id)
    [replayed] = world.queue.drain()  # the replay died in the DLQ instead of being processed
    event = {
        "Records": [
            {
                "messageId": "dead-1",
                "receiptHandle": "r",
                "body": replayed.body,
                "attributes": {"ApproximateReceiveCount": "5"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:loyalty-bridge-ProfileSyncDLQ-X.fifo",
                "awsRegion": "us-east-1",
            }
        ]
    }

    assert monitor.handle(event, FakeLambdaContext(), incidents=world.incidents) == {"batchItemFailures": []}
    assert monitor.handle(event, FakeLambdaContext(), incidents=world.incidents) == {"batchItemFailures": []}

    dead = [r for r in world.errors.records.values() if ":dlq:" in r.error_id]
    assert len(dead) == 1
    assert dead[0].attempts == 2
    assert dead[0].replay["body"]["replay_of"] is None
    assert dead[0].change_after == {"consent_email": True, "consent_sms": False}
    reopened = world.errors.get(original.error_id)
    assert reopened is not None
    assert reopened.status == ErrorStatus.OPEN
    assert len(world.mailer.sent) == 2  # the refusal, then the dead letter


def test_dead_letter_categories_follow_the_kind_then_the_queue() -> None:
    assert queue_of("arn:aws:sqs:us-east-1:1:loyalty-bridge-MembershipDLQ-1") == "membership"
    assert queue_of("arn:aws:sqs:us-east-1:1:stack-ProfileSyncDLQ-2.fifo") == "profile_sync"
    assert queue_of("arn:aws:sqs:us-east-1:1:stack-OrderDLQ-3") == "order"
    assert queue_of("arn:aws:sqs:us-east-1:1:something-else") is None
    assert category_for("membership", "membership.attach") == ErrorCategory.ATTACH_ACCOUNT
    assert category_for("membership", "membership.create") == ErrorCategory.NEW_ACCOUNT
    assert category_for(None, "order.settle") == ErrorCategory.NEW_ORDER
    assert category_for("order", "weird") == ErrorCategory.NEW_ORDER
    assert category_for(None, "consents.update") == ErrorCategory.ACCOUNT_UPDATE

    envelope = {"kind": "membership.create", "message_id": "m-9", "customer_id": "c-9", "payload": {}}
    record = dead_letter_record(json.dumps(envelope), "sqs-1", None, 6)
    assert record.category == ErrorCategory.NEW_ACCOUNT
    # maxReceiveCount 5, then the monitor's own receive from the DLQ: 6 in all, 5 failures.
    assert "(5 receives before the dead-letter queue)" in record.platform_answer
    assert record.replay["queue"] == "membership"
    assert record.error_id == "new_account_registration:dlq:m-9"


def test_the_sample_events_are_what_the_functions_accept(world: World) -> None:
    from urllib.parse import parse_qs

    from loyalty_bridge.models.api_profile import MailchimpWebhook, SetConsents, UpdateProfile

    update = UpdateProfile.model_validate_json(load_event("profile_api_update_profile.json")["body"])
    assert update.mobile == "+447700900124"
    assert SetConsents.model_validate_json(load_event("profile_api_set_consents.json")["body"]).sms is True
    hook = MailchimpWebhook.from_form(parse_qs(load_event("mailchimp_webhook_unsubscribe.json")["body"]))
    assert (hook.type, hook.data.email, hook.data.list_id) == (
        "unsubscribe",
        "ann.lee@example.com",
        "a6b5da1054",
    )

    world.customer("c-1001", version=7, consents=Consents(email=True, sms=False))
    worker = load_function("profile_sync_worker")
    answer = worker.handle(
        load_event("profile_sync_worker_consents.json"),
        FakeLambdaContext(),
        service=world.sync,
        incidents=world.incidents,
    )
    assert answer == {"batchItemFailures": []}
    assert world.platform.get_member(world.member_of("c-1001")).consents == Consents(email=True, sms=False)

    monitor = load_function("dlq_monitor")
    assert monitor.handle(
        load_event("dlq_monitor_profile_sync.json"), FakeLambdaContext(), incidents=world.incidents
    ) == {"batchItemFailures": []}
    assert "account_update:dlq:v7:c-1001" in world.errors.records


def test_only_a_dead_replay_reopens_an_error() -> None:
    class Sink:
        def __init__(self) -> None:
            self.reported: list[str] = []
            self.reopened: list[tuple[str | None, str]] = []

        def report(self, record: Any) -> bool:
            self.reported.append(record.error_id)
            return True

        def replay_failed(self, error_id: str | None, *, note: str = "") -> bool:
            self.reopened.append((error_id, note))
            return True

    sink = Sink()
    plain = {"kind": "order.post", "message_id": "m-1", "customer_id": "c-1", "payload": {}}
    replay = plain | {"message_id": "m-2", "replay_of": "new_order:o-1"}
    record_dead_letter(sink, json.dumps(plain), "sqs-1", "arn:aws:sqs:us-east-1:1:s-OrderDLQ-1", 6)
    record_dead_letter(sink, "{not json", "sqs-2", "arn:aws:sqs:us-east-1:1:s-OrderDLQ-1", 6)
    record_dead_letter(sink, json.dumps(replay), "sqs-3", "arn:aws:sqs:us-east-1:1:s-OrderDLQ-1", 6)
    assert sink.reported == ["new_order:dlq:m-1", "new_order:unreadable:sqs-2", "new_order:dlq:m-2"]
    assert sink.reopened == [("new_order:o-1", "the replay ended in a dead-letter queue (new_order:dlq:m-2)")]

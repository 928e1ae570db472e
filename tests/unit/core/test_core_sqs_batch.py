"""The workers' partial batch responses (loyalty_bridge.sqs_batch): which records come back."""

from __future__ import annotations

from typing import Any

import pytest

from loyalty_bridge.sqs_batch import EntireBatchFailed, SqsRecord, process_batch


def record(
    message_id: str, body: str = "{}", group: str | None = None, receives: str = "1"
) -> dict[str, Any]:
    attributes = {"ApproximateReceiveCount": receives}
    if group is not None:
        attributes["MessageGroupId"] = group
    return {
        "messageId": message_id,
        "body": body,
        "attributes": attributes,
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
    }


def failing(*bad: str) -> tuple[list[str], Any]:
    seen: list[str] = []

    def handle(item: SqsRecord) -> None:
        seen.append(item.message_id)
        if item.message_id in bad:
            raise RuntimeError(f"{item.message_id} failed")

    return seen, handle


def test_only_the_failed_records_of_a_standard_batch_come_back() -> None:
    seen, handle = failing("b")
    answer = process_batch({"Records": [record("a"), record("b"), record("c")]}, handle)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "b"}]}
    assert seen == ["a", "b", "c"]  # every record is tried


def test_a_batch_that_failed_whole_fails_the_invocation_unless_asked_to_report() -> None:
    _, handle = failing("a", "b")
    event = {"Records": [record("a"), record("b")]}
    with pytest.raises(EntireBatchFailed, match="all 2 records failed") as raised:
        process_batch(event, handle)
    assert [message_id for message_id, _ in raised.value.failures] == ["a", "b"]
    answer = process_batch(event, handle, raise_on_entire_batch_failure=False)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "a"}, {"itemIdentifier": "b"}]}


def test_fifo_skips_the_rest_of_a_failed_group_and_goes_on_with_the_others() -> None:
    seen, handle = failing("g1-a")
    records = [record("g1-a", group="g1"), record("g2-a", group="g2"), record("g1-b", group="g1")]
    answer = process_batch({"Records": records}, handle, fifo=True)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "g1-a"}, {"itemIdentifier": "g1-b"}]}
    assert seen == ["g1-a", "g2-a"]  # g1-b is not tried: it must not overtake g1-a


def test_fifo_without_a_group_stops_at_the_first_failure() -> None:
    seen, handle = failing("b")
    answer = process_batch({"Records": [record("a"), record("b"), record("c")]}, handle, fifo=True)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "b"}, {"itemIdentifier": "c"}]}
    assert seen == ["a", "b"]


def test_the_record_fields_the_workers_read() -> None:
    seen: list[SqsRecord] = []
    process_batch({"Records": [record("m-1", body='{"x": 1}', group="g", receives="3")]}, seen.append)
    (item,) = seen
    assert (item.message_id, item.body, item.receive_count, item.message_group_id) == (
        "m-1",
        '{"x": 1}',
        "3",
        "g",
    )
    assert item.event_source_arn == "arn:aws:sqs:us-east-1:123456789012:q"


@pytest.mark.parametrize("event", [{}, {"Records": []}, {"Records": "x"}, {"Records": [{"body": "{}"}]}])
def test_an_event_that_is_not_an_sqs_batch_is_refused(event: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="SQS"):
        process_batch(event, lambda _record: None)

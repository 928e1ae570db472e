"""SQS event sources as Lambda runs them: real SQS events, partial batch failures, retries
after the (shortened) visibility timeout, and redrive to the DLQ after maxReceiveCount."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from tests.integration.local.conftest import SampleStack

EVENTS = Path(__file__).resolve().parents[3] / "events"
MAX_RECEIVES = 3  # sample/template.yaml MaxReceives default


def _sent(sample: SampleStack, queue: str, bodies: list[str], **extra: Any) -> dict[str, str]:
    sqs = sample.stack.client("sqs")
    url = sample.stack.status()["queues"][queue]["url"]
    entries = [{"Id": str(i), "MessageBody": body, **extra} for i, body in enumerate(bodies)]
    for entry in entries:
        if "MessageGroupId" in extra:
            entry["MessageDeduplicationId"] = entry["MessageBody"]
    result = sqs.send_message_batch(QueueUrl=url, Entries=entries)
    assert not result.get("Failed")
    return {bodies[int(item["Id"])]: item["MessageId"] for item in result["Successful"]}


def _dlq_bodies(sample: SampleStack) -> list[str]:
    sqs = sample.stack.client("sqs")
    url = sample.stack.status()["queues"]["WorkDLQ"]["url"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get(
        "Messages", []
    )
    return [m["Body"] for m in messages]


def test_partial_batch_failures_retry_then_redrive_to_the_dlq(sample_stack: SampleStack) -> None:
    tag = uuid.uuid4().hex[:8]
    ok_1, bad, ok_2 = f"ok-{tag}-1", f"fail-{tag}", f"ok-{tag}-2"
    ids = _sent(
        sample_stack,
        "WorkQueue",
        [ok_1, bad, ok_2],
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "sample"}},
    )

    sample_stack.wait_until(lambda: bad in _dlq_bodies(sample_stack), "failed message in the DLQ")
    sample_stack.stack.wait_until_drained()

    records = [r for r in sample_stack.records("worker") if tag in r["body"]]
    by_body: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_body.setdefault(record["body"], []).append(record)
    # Successes are deleted after their first delivery; the failure is retried until
    # maxReceiveCount, then moved to the DLQ (and never delivered to the worker again).
    assert len(by_body[ok_1]) == 1
    assert len(by_body[ok_2]) == 1
    assert [r["attributes"]["ApproximateReceiveCount"] for r in by_body[bad]] == [
        str(n) for n in range(1, MAX_RECEIVES + 1)
    ]
    first = by_body[ok_1][0]
    assert first["messageId"] == ids[ok_1]
    assert first["eventSource"] == "aws:sqs"
    assert first["eventSourceARN"] == sample_stack.stack.status()["queues"]["WorkQueue"]["arn"]
    assert first["messageAttributes"]["kind"]["stringValue"] == "sample"
    assert first["messageAttributes"]["kind"]["dataType"] == "String"


def test_records_have_the_shape_of_a_real_sqs_event(sample_stack: SampleStack) -> None:
    expected = json.loads((EVENTS / "sam_sqs_receive_message.json").read_text())["Records"][0]
    tag = uuid.uuid4().hex[:8]
    _sent(sample_stack, "WorkQueue", [f"shape-{tag}"])
    sample_stack.stack.wait_until_drained()
    record = next(r for r in sample_stack.records("worker") if r["body"] == f"shape-{tag}")
    assert set(expected) <= set(record)
    assert set(expected["attributes"]) <= set(record["attributes"])
    for key, value in expected.items():
        assert type(record[key]) is type(value), key


def test_fifo_queue_delivers_in_order_with_group_attributes(sample_stack: SampleStack) -> None:
    tag = uuid.uuid4().hex[:8]
    bodies = [f"seq-{tag}-{n}" for n in range(7)]
    _sent(sample_stack, "OrderedQueue", bodies, MessageGroupId=f"g-{tag}")
    sample_stack.stack.wait_until_drained()
    records = [r for r in sample_stack.records("worker") if r["body"].startswith(f"seq-{tag}")]
    assert [r["body"] for r in records] == bodies
    assert {r["attributes"]["MessageGroupId"] for r in records} == {f"g-{tag}"}
    assert all("SequenceNumber" in r["attributes"] for r in records)


def test_schedules_run_their_function_with_a_scheduled_event(sample_stack: SampleStack) -> None:
    before = len(sample_stack.records("ticker"))
    sample_stack.stack.run_schedules()
    runs = sample_stack.records("ticker")
    assert len(runs) == before + 1
    assert runs[-1]["detail-type"] == "Scheduled Event"
    assert runs[-1]["source"] == "aws.events"
    status = sample_stack.stack.status()
    assert [(s["function"], s["interval_seconds"]) for s in status["schedules"]] == [
        ("TickerFunction", 3600.0)
    ]


def test_resources_are_created_from_the_template(sample_stack: SampleStack) -> None:
    status = sample_stack.stack.status()
    ddb = sample_stack.stack.client("dynamodb")
    table = ddb.describe_table(TableName=status["tables"]["SampleTable"])["Table"]
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["by_g"]
    ttl = ddb.describe_time_to_live(TableName=status["tables"]["SampleTable"])["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}

    sqs = sample_stack.stack.client("sqs")
    work = sqs.get_queue_attributes(QueueUrl=status["queues"]["WorkQueue"]["url"], AttributeNames=["All"])
    redrive = json.loads(work["Attributes"]["RedrivePolicy"])
    assert redrive == {
        "deadLetterTargetArn": status["queues"]["WorkDLQ"]["arn"],
        "maxReceiveCount": MAX_RECEIVES,
    }
    assert work["Attributes"]["VisibilityTimeout"] == "30"  # the template's value, untouched
    ordered = sqs.get_queue_attributes(
        QueueUrl=status["queues"]["OrderedQueue"]["url"], AttributeNames=["All"]
    )
    assert ordered["Attributes"]["FifoQueue"] == "true"
    assert status["queues"]["OrderedQueue"]["name"].endswith(".fifo")

    secret = sample_stack.stack.client("secretsmanager").get_secret_value(
        SecretId=status["secrets"]["SampleSecret"]
    )
    document = json.loads(secret["SecretString"])
    assert document["scope"] == "sample"
    assert len(document["secret"]) == 24
    assert document["secret"].isalnum()

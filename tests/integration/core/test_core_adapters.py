"""SQS, SES, SNS and Secrets Manager adapters against moto (server mode)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from loyalty_bridge import errors
from loyalty_bridge.adapters.secrets import SecretMalformed, SecretNotFound, SecretsReader
from loyalty_bridge.adapters.ses import SesMailer
from loyalty_bridge.adapters.sms import SnsSms
from loyalty_bridge.adapters.sqs import SqsQueue

pytestmark = pytest.mark.integration


def _receive_all(sqs: Any, url: str) -> list[dict[str, Any]]:
    response = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, MessageSystemAttributeNames=["All"]
    )
    return list(response.get("Messages", []))


# ---------------------------------------------------------------- SQS


def test_fifo_queue_uses_group_and_dedup_ids(boto: Any, unique: str) -> None:
    sqs = boto("sqs")
    url = sqs.create_queue(QueueName=f"sync-{unique}.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    queue = SqsQueue(sqs, url)
    assert queue.fifo
    queue.send('{"n":1}', group_id="c-1", dedup_id="m-1")
    queue.send('{"n":1}', group_id="c-1", dedup_id="m-1")  # a retry of the same message
    queue.send('{"n":2}', group_id="c-1", dedup_id="m-2")
    messages = _receive_all(sqs, url)
    assert [m["Body"] for m in messages] == ['{"n":1}', '{"n":2}']
    assert {m["Attributes"]["MessageGroupId"] for m in messages} == {"c-1"}
    assert [m["Attributes"]["MessageDeduplicationId"] for m in messages] == ["m-1", "m-2"]


def test_fifo_queue_needs_a_group_id(boto: Any, unique: str) -> None:
    sqs = boto("sqs")
    url = sqs.create_queue(QueueName=f"sync-{unique}.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    with pytest.raises(ValueError, match="group_id"):
        SqsQueue(sqs, url).send("{}")


def test_standard_queue_sends_the_body(boto: Any, unique: str) -> None:
    sqs = boto("sqs")
    url = sqs.create_queue(QueueName=f"membership-{unique}")["QueueUrl"]
    queue = SqsQueue(sqs, url)
    assert not queue.fifo
    queue.send('{"kind":"membership.create"}', group_id="ignored", dedup_id="ignored")
    messages = _receive_all(sqs, url)
    assert [m["Body"] for m in messages] == ['{"kind":"membership.create"}']


def test_missing_queue_is_a_permanent_error(boto: Any, unique: str) -> None:
    sqs = boto("sqs")
    url = sqs.create_queue(QueueName=f"gone-{unique}")["QueueUrl"]
    sqs.delete_queue(QueueUrl=url)
    with pytest.raises(errors.Permanent):
        SqsQueue(sqs, url).send("{}")


def test_unreachable_sqs_is_retryable(boto: Any) -> None:
    import boto3
    from botocore.config import Config

    dead = boto3.client(
        "sqs",
        endpoint_url="http://127.0.0.1:9",
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    with pytest.raises(errors.Retryable):
        SqsQueue(dead, "http://127.0.0.1:9/123456789012/q").send("{}")


# ---------------------------------------------------------------- SES


def test_ses_mailer_sends_text_and_html(boto: Any, unique: str) -> None:
    ses = boto("ses")
    sender = f"loyalty-{unique}@example.com"
    ses.verify_email_identity(EmailAddress=sender)
    before = ses.get_send_quota()["SentLast24Hours"]
    mailer = SesMailer(ses, sender=sender)
    message_id = mailer.send(to=["ada@example.com"], subject="Your code", text="1234", html="<b>1234</b>")
    mailer.send(to=["bob@example.com"], subject="Plain", text="hello")
    assert message_id
    assert ses.get_send_quota()["SentLast24Hours"] == before + 2


def test_ses_unverified_sender_is_permanent(boto: Any, unique: str) -> None:
    mailer = SesMailer(boto("ses"), sender=f"nobody-{unique}@example.com")
    with pytest.raises(errors.Permanent):
        mailer.send(to=["ada@example.com"], subject="x", text="y")


def test_ses_needs_a_recipient(boto: Any) -> None:
    with pytest.raises(ValueError, match="recipient"):
        SesMailer(boto("ses"), sender="a@example.com").send(to=[], subject="x", text="y")


# ---------------------------------------------------------------- SNS SMS


def test_sns_sms_publishes_to_the_phone(boto: Any) -> None:
    assert SnsSms(boto("sns")).send(to="+15555550100", text="Your code is 1234")


def test_sns_sms_invalid_number_is_permanent(boto: Any) -> None:
    with pytest.raises(errors.Permanent):
        SnsSms(boto("sns")).send(to="not-a-number", text="x")


# ---------------------------------------------------------------- Secrets Manager


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_secrets_reader_reads_json_and_caches_for_the_ttl(boto: Any, unique: str) -> None:
    sm = boto("secretsmanager")
    name = f"stack-{unique}/platform"
    sm.create_secret(Name=name, SecretString=json.dumps({"token": "t-1"}))
    clock = Clock()
    reader = SecretsReader(sm, ttl_seconds=300, clock=clock)
    assert reader.read_json_secret(name) == {"token": "t-1"}
    sm.put_secret_value(SecretId=name, SecretString=json.dumps({"token": "t-2"}))
    clock.now = 299
    assert reader.read_json_secret(name) == {"token": "t-1"}
    clock.now = 301
    assert reader.read_json_secret(name) == {"token": "t-2"}


def test_secrets_reader_missing_and_malformed(boto: Any, unique: str) -> None:
    sm = boto("secretsmanager")
    reader = SecretsReader(sm)
    with pytest.raises(SecretNotFound):
        reader.read_json_secret(f"stack-{unique}/nothing")
    sm.create_secret(Name=f"stack-{unique}/text", SecretString="plain words")
    sm.create_secret(Name=f"stack-{unique}/list", SecretString="[1, 2]")
    with pytest.raises(SecretMalformed):
        reader.read_json_secret(f"stack-{unique}/text")
    with pytest.raises(SecretMalformed):
        reader.read_json_secret(f"stack-{unique}/list")

"""Membership over the real adapters (DynamoDB customers and codes, built-in ledger, SQS,
SES, error store) on template.yaml's resources in moto, built by wiring as on Lambda."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from loyalty_bridge import errors, wiring
from loyalty_bridge.adapters.customers import DynamoBalanceSnapshots
from loyalty_bridge.adapters.verification import DynamoVerificationStore
from loyalty_bridge.models.api_membership import CreateCustomer
from loyalty_bridge.models.domain import Balance, Consents, LoyaltyStatus, MemberProfile
from loyalty_bridge.models.verification import Challenge, Purpose
from tests.lambda_harness import FakeLambdaContext, load_function

if TYPE_CHECKING:
    from bridge_local.resources import Provisioned

pytestmark = pytest.mark.integration


def tag() -> str:
    return uuid.uuid4().hex[:10]


def drain_membership_queue(aws: Provisioned) -> dict[str, Any]:
    """Receive what is on MembershipQueue as the Lambda event source would hand it over."""
    sqs = aws.client("sqs")
    answer = sqs.receive_message(
        QueueUrl=aws.queues["MembershipQueue"].url,
        MaxNumberOfMessages=10,
        AttributeNames=["All"],
        WaitTimeSeconds=0,
    )
    records = [
        {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": m["Attributes"],
            "messageAttributes": {},
            "md5OfBody": m["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:MembershipQueue",
            "awsRegion": "us-east-1",
        }
        for m in answer.get("Messages", [])
    ]
    return {"Records": records}


def sent_mail(aws: Provisioned, to: str) -> list[str]:
    """Bodies of the mail moto's SES accepted for ``to`` (the moto server runs in this process)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    sent = ses_backends[DEFAULT_ACCOUNT_ID][aws.region].sent_messages
    return [str(m.body) for m in sent if to in (m.destinations or {}).get("ToAddresses", [])]


def test_signup_queue_worker_summary_end_to_end(aws: Provisioned) -> None:
    customer_id = f"c-{tag()}"
    record = wiring.signup_service().signup(
        CreateCustomer(customer_id=customer_id, email=f"{customer_id}@example.com", first_name="Ann")
    )
    assert record.status is LoyaltyStatus.PENDING
    event = drain_membership_queue(aws)
    assert len(event["Records"]) == 1
    worker = load_function("membership_worker")
    assert worker.lambda_handler(event, FakeLambdaContext()) == {"batchItemFailures": []}
    summary = wiring.summary_service().summary(customer_id)
    assert summary.status is LoyaltyStatus.JOINED
    assert summary.card is not None
    assert summary.points is not None
    assert summary.points.balance == 0


def test_the_login_summary_costs_at_most_two_dynamodb_reads(aws: Provisioned) -> None:
    """A6 and API.md: one or two reads from our own store, no platform call (the built-in
    ledger's balance is a read of its own table)."""
    customer_id = f"c-{tag()}"
    email = f"{customer_id}@example.com"
    wiring.signup_service().signup(CreateCustomer(customer_id=customer_id, email=email))
    worker = load_function("membership_worker")
    joined = worker.lambda_handler(drain_membership_queue(aws), FakeLambdaContext())
    assert joined == {"batchItemFailures": []}
    service = wiring.summary_service()

    calls: list[str] = []

    def count(event_name: str, **_: Any) -> None:
        calls.append(event_name.rsplit(".", 1)[-1])

    dynamodb = wiring.aws_client("dynamodb")
    dynamodb.meta.events.register("before-call.dynamodb", count)
    try:
        summary = service.summary(customer_id)
    finally:
        dynamodb.meta.events.unregister("before-call.dynamodb", count)

    assert summary.status is LoyaltyStatus.JOINED
    assert len(calls) <= 2, calls
    assert set(calls) <= {"GetItem", "Query", "BatchGetItem"}, calls


def test_attach_with_an_emailed_code_on_real_adapters(aws: Provisioned) -> None:
    email = f"ann-{tag()}@example.com"
    member = wiring.platform().create_member(MemberProfile(email=email), Consents(), idempotency_key=tag())
    customer_id = f"c-{tag()}"
    wiring.signup_service().signup(CreateCustomer(customer_id=customer_id, email=email.upper(), join=False))
    wiring.attach_service().start(customer_id, member.card.number, email)
    [text] = sent_mail(aws, email)
    code = re.search(r"\b(\d{6})\b", text)
    assert code is not None
    joined = wiring.attach_service().confirm(customer_id, code.group(1))
    assert joined.member_id == member.member_id
    assert wiring.customers().linked_customer(card_number=member.card.number) == customer_id


def test_a_refused_signup_is_recorded_once_and_emailed_to_the_admins(aws: Provisioned) -> None:
    email = f"dup-{tag()}@example.com"
    wiring.platform().create_member(MemberProfile(email=email), Consents(), idempotency_key=tag())
    customer_id = f"c-{tag()}"
    wiring.signup_service().signup(CreateCustomer(customer_id=customer_id, email=email))
    event = drain_membership_queue(aws)
    worker = load_function("membership_worker")
    worker.lambda_handler(event, FakeLambdaContext())
    worker.lambda_handler(event, FakeLambdaContext())  # a duplicate delivery
    assert wiring.summary_service().summary(customer_id).reason == "duplicate_email"
    admin = wiring.settings().admin_emails[0]
    mails = [m for m in sent_mail(aws, admin) if customer_id in m]
    assert len(mails) == 1
    assert "New Account Registration Errors" in mails[0]
    stored, _ = wiring.error_store().list(
        category="new_account_registration", status=None, limit=50, cursor=None
    )
    assert [r.customer_id for r in stored].count(customer_id) == 1


def test_verification_store_spends_tries_atomically_and_counts_attempts(aws: Provisioned) -> None:
    store = DynamoVerificationStore(aws.client("dynamodb"), aws.tables["BridgeTable"])
    expires = datetime.now(UTC) + timedelta(minutes=10)
    store.put_challenge(
        Challenge(customer_id="c-1", purpose=Purpose.ATTACH, code_hash="h", expires_at=expires, tries_left=2)
    )
    assert store.use_try("c-1", Purpose.ATTACH) == 1
    assert store.use_try("c-1", Purpose.ATTACH) == 0
    assert store.use_try("c-1", Purpose.ATTACH) is None
    stored = store.get_challenge("c-1", Purpose.ATTACH)
    assert stored is not None
    assert stored.expires_at == expires
    store.delete_challenge("c-1", Purpose.ATTACH)
    assert store.get_challenge("c-1", Purpose.ATTACH) is None
    assert store.use_try("c-1", Purpose.ATTACH) is None
    counts = [store.count_attempt("attach:customer:c-1", window_seconds=3600).count for _ in range(3)]
    assert counts == [1, 2, 3]


def test_balance_snapshots_keep_the_newest(aws: Provisioned) -> None:
    snapshots = DynamoBalanceSnapshots(aws.client("dynamodb"), aws.tables["BridgeTable"])
    assert snapshots.get("m-1") is None
    snapshots.put(Balance(member_id="m-1", balance=10, tier="Silver"))
    snapshots.put(Balance(member_id="m-1", balance=25))
    stored = snapshots.get("m-1")
    assert stored is not None
    assert (stored.balance, stored.tier) == (25, None)


def test_the_pepper_comes_from_the_verification_secret(aws: Provisioned) -> None:
    secret = json.loads(
        aws.client("secretsmanager").get_secret_value(SecretId=aws.secrets["VerificationSecret"])[
            "SecretString"
        ]
    )
    assert wiring.verification_pepper() == secret["pepper"].encode()
    with pytest.raises(errors.NotFound):
        wiring.attach_service().confirm("nobody", "123456")

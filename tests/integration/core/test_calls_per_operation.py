"""AWS calls per storefront operation, counted as ``make bench`` counts them: botocore's
``before-call`` on the session ``wiring`` builds every client from, through the real
handlers (signature, Idempotency-Key, routes) and adapters on template.yaml's resources in
moto, the built-in ledger as platform, background work (queue workers) included; warm (a
first call of each function reads its secrets; the counted ones do not).

FLOORS are issue 19's floors; MOST is what the design does today (bench/run.py prints
both with the reason). A count above MOST is a regression; an operation at or under its
floor stays there.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from bridge_local.events import sqs_record
from loyalty_bridge import wiring
from tests.lambda_harness import FakeLambdaContext, load_function, signed_http_event

if TYPE_CHECKING:
    from bridge_local.resources import Provisioned

pytestmark = pytest.mark.integration

FLOORS = {"summary": 2, "quote": 2, "hold": 4, "order": 5, "refund": 4, "profile": 7, "signup": 10}
MOST = {"summary": 2, "quote": 2, "hold": 4, "order": 4, "refund": 4, "profile": 7, "signup": 10}
WORKERS = {
    "MembershipQueue": "membership_worker",
    "ProfileSyncQueue": "profile_sync_worker",
    "OrderQueue": "order_worker",
}
LINES = [
    {"sku": "SKU-1", "title": "Spade", "quantity": 2, "unit_price": "10.00", "categories": ["Garden"]},
]


class Counted:
    """The stack: signed calls to the API functions, the queues drained into their workers
    (the test's own SQS client, like Lambda's event source, is not counted)."""

    def __init__(self, aws: Provisioned) -> None:
        self.aws = aws
        self.calls: Counter[str] = Counter()
        self.signing = next(k for k in aws.signing_keys if k.scope == "storefront")

    def count(self, model: Any, **_: Any) -> None:
        self.calls[f"{model.service_model.service_name}.{model.name}"] += 1

    def call(self, function: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        event = signed_http_event(
            method,
            path,
            key_id=self.signing.key_id,
            secret=self.signing.secret,
            body=body,
            idempotency_key=uuid.uuid4().hex if method in ("POST", "PUT", "PATCH") else None,
        )
        answer = load_function(function).lambda_handler(event, FakeLambdaContext())
        return answer["statusCode"], json.loads(answer["body"]) if answer.get("body") else None

    def drain(self) -> None:
        sqs = self.aws.client("sqs")
        for _ in range(10):
            moved = 0
            for logical_id, function in WORKERS.items():
                queue = self.aws.queues[logical_id]
                received = sqs.receive_message(
                    QueueUrl=queue.url, MaxNumberOfMessages=10, AttributeNames=["All"]
                ).get("Messages", [])
                if not received:
                    continue
                moved += len(received)
                event = {"Records": [sqs_record(m, queue.arn) for m in received]}
                answer = load_function(function).lambda_handler(event, FakeLambdaContext())
                failed = {f["itemIdentifier"] for f in answer.get("batchItemFailures", [])}
                assert not failed, answer
                for message in received:
                    sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"])
            if not moved:
                return
        raise AssertionError("the queues did not drain")

    def measure(self, action: Callable[[], tuple[int, Any]]) -> tuple[int, int, Counter[str]]:
        """(status, AWS calls, calls by operation) of ``action`` and what it queued."""
        self.calls.clear()
        status, _ = action()
        self.drain()
        return status, sum(self.calls.values()), Counter(self.calls)

    # ------------------------------------------------------------ storefront operations

    def signup(self, customer_id: str) -> tuple[int, Any]:
        body = {
            "customer_id": customer_id,
            "email": f"{customer_id}@example.com",
            "first_name": "Ann",
            "last_name": "Lee",
            "consents": {"email": True, "sms": False},
        }
        return self.call("membership_api", "POST", "/v1/customers", body)

    def order(self, customer_id: str, order_id: str) -> tuple[int, Any]:
        body = {
            "order_id": order_id,
            "customer_id": customer_id,
            "placed_at": datetime.now(UTC).isoformat(),
            "currency": "EUR",
            "channel": "webshop",
            "lines": LINES,
            "shipping": "0",
            "total": "20.00",
        }
        return self.call("checkout_api", "POST", "/v1/orders", body)


@pytest.fixture
def stack(aws: Provisioned) -> Iterator[tuple[Counted, str]]:
    wiring.reset()
    counted = Counted(aws)
    from loyalty_bridge.wiring import core

    core._boto_session().events.register("before-call", counted.count)
    customer = f"c-{uuid.uuid4().hex[:10]}"
    assert counted.signup(customer)[0] == 202
    counted.drain()
    assert counted.order(customer, f"o-{uuid.uuid4().hex[:8]}")[0] == 200  # warm, and points
    assert counted.call("profile_api", "PATCH", f"/v1/customers/{customer}", {"first_name": "Bo"})[0] == 202
    counted.drain()
    yield counted, customer
    wiring.reset()


def check(operation: str, calls: int, by_operation: Counter[str]) -> None:
    assert calls <= MOST[operation], (
        f"{operation}: {calls} AWS calls, at most {MOST[operation]}: {by_operation}"
    )


def test_the_login_summary_reads_twice(stack: tuple[Counted, str]) -> None:
    counted, customer = stack
    status, calls, ops = counted.measure(
        lambda: counted.call("membership_api", "GET", f"/v1/customers/{customer}/loyalty")
    )
    assert status == 200
    check("summary", calls, ops)
    assert calls == FLOORS["summary"]


def test_a_quote_reads_twice_and_keeps_no_idempotency_record(stack: tuple[Counted, str]) -> None:
    counted, customer = stack
    body = {"customer_id": customer, "currency": "EUR", "lines": LINES}
    status, calls, ops = counted.measure(
        lambda: counted.call("checkout_api", "POST", "/v1/checkout/quote", body)
    )
    assert status == 200
    check("quote", calls, ops)
    assert calls == FLOORS["quote"]
    assert set(ops) == {"dynamodb.GetItem", "dynamodb.Query"}  # no PutItem/UpdateItem: nothing kept


def test_hold_order_and_refund(stack: tuple[Counted, str]) -> None:
    counted, customer = stack
    hold = {"customer_id": customer, "cart_id": "cart-1", "points": 5, "order_total": "20.00"}
    status, calls, ops = counted.measure(
        lambda: counted.call("checkout_api", "POST", "/v1/checkout/redemptions", hold)
    )
    assert status == 201
    check("hold", calls, ops)
    # The hold, the account, its record, the cart's previous hold and the request's answer,
    # at once: no cart pointer, no completion of the Idempotency-Key's record after it.
    assert ops["dynamodb.TransactWriteItems"] == 1
    assert ops["dynamodb.PutItem"] == 1, ops  # the claim
    assert calls == FLOORS["hold"]

    order_id = f"o-{uuid.uuid4().hex[:8]}"
    status, calls, ops = counted.measure(lambda: counted.order(customer, order_id))
    assert status == 200
    check("order", calls, ops)
    assert ops["dynamodb.TransactWriteItems"] == 1
    # The order record is written with its credit, in the ledger's transaction: no record
    # put or credit update of its own (the one PutItem is the Idempotency-Key's claim), and
    # the claim is completed with the answer in that transaction too.
    assert ops["dynamodb.PutItem"] == 1, ops
    assert ops["dynamodb.UpdateItem"] == 0, ops
    stored = counted.aws.client("dynamodb").get_item(
        TableName=counted.aws.tables["BridgeTable"],
        Key={"pk": {"S": f"ORDER#{order_id}"}, "sk": {"S": "ORDER"}},
        ConsistentRead=True,
    )["Item"]
    assert json.loads(stored["credit"]["S"])["points_earned"] > 0
    assert stored["loyalty"]["S"] == "member"

    refund = {"refund_id": "r-1", "lines": [{"sku": "SKU-1", "quantity": 1}]}
    status, calls, ops = counted.measure(
        lambda: counted.call("checkout_api", "POST", f"/v1/orders/{order_id}/refunds", refund)
    )
    assert status == 200
    check("refund", calls, ops)
    assert ops["dynamodb.TransactWriteItems"] == 1
    assert ops["dynamodb.PutItem"] == 1, ops  # the claim: the reversal record is in the transaction
    # The order's record and the ledger's ORDER item in one BatchGetItem, then the member's
    # partition: the floor.
    assert ops["dynamodb.BatchGetItem"] == 1, ops
    assert calls == FLOORS["refund"]


def test_a_profile_change_and_its_sync(stack: tuple[Counted, str]) -> None:
    counted, customer = stack
    status, calls, ops = counted.measure(
        lambda: counted.call("profile_api", "PATCH", f"/v1/customers/{customer}", {"first_name": "Cy"})
    )
    assert status == 202
    check("profile", calls, ops)
    assert ops["sqs.SendMessage"] == 1
    # The sync state rides in the ledger's profile transaction: the one UpdateItem is the
    # completion of the claim (after the send: a lost send is queued again on a retry).
    assert ops["dynamodb.UpdateItem"] == 1, ops
    # The worker reads the record, its sync state and the ledger's member in one call.
    assert ops["dynamodb.BatchGetItem"] == 1, ops
    assert "dynamodb.Query" not in ops, ops
    assert calls == FLOORS["profile"]


def test_a_signup_with_auto_join_and_every_worker(stack: tuple[Counted, str]) -> None:
    counted, _ = stack
    status, calls, ops = counted.measure(lambda: counted.signup(f"c-{uuid.uuid4().hex[:10]}"))
    assert status == 202
    check("signup", calls, ops)
    # The signup's push is for Mailchimp and the SMS list alone, neither of which the local
    # stack has, and the customer has no phone: it reads nothing. The join's push reads once.
    assert ops["dynamodb.Query"] == 1, ops
    assert calls == FLOORS["signup"]


# With Mailchimp on (P3, P4, P6), the sync worker also writes Mailchimp's state and the
# email index, and an order queues the refresh of the member's loyalty data: what the
# local stack (no Mailchimp list) does not count.
WITH_MAILCHIMP = {"signup": 14, "profile": 9, "order": 8}


def test_with_mailchimp_on_a_signup_a_profile_change_and_an_order(
    aws: Provisioned, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fake_mailchimp import FakeMailchimp

    with FakeMailchimp(api_key="0123456789abcdef0123456789abcdef-us21", list_id="list1") as mailchimp:
        secret = {"api_key": mailchimp.api_key, "webhook_secret": "hook-secret-123"}
        aws.client("secretsmanager").put_secret_value(
            SecretId=aws.secrets["MailchimpSecret"], SecretString=json.dumps(secret)
        )
        monkeypatch.setenv("MAILCHIMP_LIST_ID", mailchimp.list_id)
        monkeypatch.setenv("MAILCHIMP_BASE_URL", mailchimp.url)
        wiring.reset()
        counted = Counted(aws)
        from loyalty_bridge.wiring import core

        core._boto_session().events.register("before-call", counted.count)
        warm = f"c-{uuid.uuid4().hex[:10]}"
        counted.signup(warm)
        counted.drain()
        path = f"/v1/customers/{warm}"
        counted.call("profile_api", "PATCH", path, {"first_name": "Bo"})
        counted.drain()
        customer = f"c-{uuid.uuid4().hex[:10]}"

        signup = counted.measure(lambda: counted.signup(customer))
        profile = counted.measure(lambda: counted.call("profile_api", "PATCH", path, {"first_name": "Cy"}))
        order = counted.measure(lambda: counted.order(warm, f"o-{uuid.uuid4().hex[:8]}"))
        wiring.reset()

        member = mailchimp.member(f"{customer}@example.com")
        assert member is not None
        assert member.merge_fields["LOYALTY"] == "yes"  # the flag and the loyalty data reached it
        assert "POINTS" in member.merge_fields
        buyer = mailchimp.member(f"{warm}@example.com")
        assert buyer is not None
        assert int(buyer.merge_fields["POINTS"]) > 0  # the order's points reached Mailchimp
    for name, (status, calls, ops) in {"signup": signup, "profile": profile, "order": order}.items():
        assert status == (200 if name == "order" else 202)
        assert calls <= WITH_MAILCHIMP[name], f"{name} with Mailchimp: {calls} AWS calls: {ops}"

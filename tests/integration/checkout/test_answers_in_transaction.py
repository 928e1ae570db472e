"""A hold's, an order's and a refund's answer is written in the ledger transaction of the
change it answers (answers.py, adapters/idempotency.py): through the real checkout
handler, the built-in ledger and the IdempotencyTable on moto.

What must hold whichever way the record is completed: a repeat under the same
Idempotency-Key gets the first answer exactly, the change is made once, and the record is
completed with the answer actually sent.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from aws_lambda_powertools.shared.json_encoder import Encoder

from loyalty_bridge import http_api, wiring
from tests.integration.core.test_calls_per_operation import LINES, Counted
from tests.lambda_harness import FakeLambdaContext, load_function, signed_http_event

if TYPE_CHECKING:
    from bridge_local.resources import Provisioned

pytestmark = pytest.mark.integration

# A day ahead: with PENDING_DAYS 0 an order's points wait until it was placed (pending),
# whatever the day the tests run (a fixed date went from pending to credited as it passed).
# One value for the module: a repeat under one Idempotency-Key must send the same body.
PLACED_AT = (datetime.now(UTC) + timedelta(days=1)).isoformat()


class Calls:
    """Every DynamoDB call of the functions, with its table (the test's own client is apart)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, list[str]]] = []
        self.before_transaction: list[Any] = []

    def record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "TransactWriteItems":
            tables = [next(iter(item.values()))["TableName"] for item in params["TransactItems"]]
            for hook in self.before_transaction:
                hook(params)
        else:
            tables = [params.get("TableName", "")]
        self.seen.append((model.name, tables))

    def count(self, name: str, table: str | None = None) -> int:
        return sum(1 for call, tables in self.seen if call == name and (table is None or table in tables))


@pytest.fixture
def checkout(aws: Provisioned) -> Iterator[tuple[Counted, Calls, str]]:
    wiring.reset()
    counted = Counted(aws)
    calls = Calls()
    from loyalty_bridge.wiring import core

    # On the session, before any client is made from it (a client copies its hooks).
    core._boto_session().events.register("before-parameter-build.dynamodb", calls.record)
    customer = f"c-{uuid.uuid4().hex[:10]}"
    assert counted.signup(customer)[0] == 202
    counted.drain()
    assert counted.order(customer, f"o-{uuid.uuid4().hex[:8]}")[0] == 200  # warm, and 20 points
    calls.seen.clear()
    yield counted, calls, customer
    core._boto_session().events.unregister("before-parameter-build.dynamodb", calls.record)
    wiring.reset()


def send(counted: Counted, path: str, body: Any, key: str) -> dict[str, Any]:
    signing = counted.signing
    event = signed_http_event(
        "POST", path, key_id=signing.key_id, secret=signing.secret, body=body, idempotency_key=key
    )
    answer: dict[str, Any] = load_function("checkout_api").lambda_handler(event, FakeLambdaContext())
    return answer


def stored(aws: Provisioned) -> list[dict[str, Any]]:
    table = aws.tables["IdempotencyTable"]
    items = aws.client("dynamodb").scan(TableName=table, ConsistentRead=True)["Items"]
    return [item for item in items if item["id"]["S"].startswith("http")]


def record_of(aws: Provisioned, answer: dict[str, Any]) -> dict[str, Any]:
    wanted = json.dumps(answer, cls=Encoder, sort_keys=True)
    [found] = [item for item in stored(aws) if item.get("data", {}).get("S") == wanted]
    return found


def order_body(customer: str, order_id: str) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "customer_id": customer,
        "placed_at": PLACED_AT,
        "currency": "EUR",
        "channel": "webshop",
        "lines": LINES,
        "shipping": "0",
        "total": "20.00",
    }


def test_the_answer_is_written_with_the_change_and_a_repeat_gets_it_exactly(
    aws: Provisioned, checkout: tuple[Counted, Calls, str]
) -> None:
    counted, calls, customer = checkout
    idempotency = aws.tables["IdempotencyTable"]
    hold = {"customer_id": customer, "cart_id": "cart-1", "points": 5, "order_total": "20.00"}
    order_id = f"o-{uuid.uuid4().hex[:8]}"
    refund = {"refund_id": "r-1", "lines": [{"sku": "SKU-1", "quantity": 1}]}
    for path, body, status in (
        ("/v1/checkout/redemptions", hold, 201),
        ("/v1/orders", order_body(customer, order_id), 200),
        (f"/v1/orders/{order_id}/refunds", refund, 200),
    ):
        key = uuid.uuid4().hex
        calls.seen.clear()
        first = send(counted, path, body, key)
        assert first["statusCode"] == status, first
        # The claim, then the change's one transaction, which completed the claim too: no
        # update of the record after the route.
        assert calls.count("PutItem", idempotency) == 1
        assert calls.count("TransactWriteItems", idempotency) == 1
        assert calls.count("UpdateItem", idempotency) == 0
        assert record_of(aws, first)["status"]["S"] == "COMPLETED"
        calls.seen.clear()
        again = send(counted, path, body, key)
        assert again == first  # the stored answer, byte for byte (headers and body)
        assert calls.count("TransactWriteItems") == 0  # nothing changed twice
    summary = counted.call("membership_api", "GET", f"/v1/customers/{customer}/loyalty")[1]
    # Each change made once: the warm order's 20 points, 5 of them held; the new order's 20
    # pending, 10 of them taken back by the refund.
    points = summary["points"]
    assert (points["balance"], points["redeemable"], points["pending"]) == (20, 20 - 5, 20 - 10)


def test_a_claim_gone_before_the_change_commits_is_completed_after_the_route(
    aws: Provisioned, checkout: tuple[Counted, Calls, str]
) -> None:
    counted, calls, customer = checkout
    db = aws.client("dynamodb")
    idempotency = aws.tables["IdempotencyTable"]

    def claim_expires(params: dict[str, Any]) -> None:
        # The claim expired and went (another retry took the key, or its TTL): the change's
        # completion of it is refused.
        calls.before_transaction.clear()
        for item in stored(aws):
            db.delete_item(TableName=idempotency, Key={"id": item["id"]})

    calls.before_transaction.append(claim_expires)
    key = uuid.uuid4().hex
    hold = {"customer_id": customer, "cart_id": "cart-2", "points": 7, "order_total": "20.00"}
    first = send(counted, "/v1/checkout/redemptions", hold, key)
    assert first["statusCode"] == 201, first
    # The transaction with the completion was cancelled on it, the hold written without it,
    # and the record completed after the route with the answer sent.
    assert calls.count("TransactWriteItems") == 2
    assert calls.count("UpdateItem", idempotency) == 1
    assert record_of(aws, first)["status"]["S"] == "COMPLETED"
    assert send(counted, "/v1/checkout/redemptions", hold, key) == first
    summary = counted.call("membership_api", "GET", f"/v1/customers/{customer}/loyalty")[1]
    assert summary["points"]["redeemable"] == 20 - 7  # held once


def test_an_answer_sent_other_than_the_one_written_is_the_one_kept(
    aws: Provisioned, checkout: tuple[Counted, Calls, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    counted, calls, customer = checkout
    idempotency = aws.tables["IdempotencyTable"]
    rendered = http_api.BridgeResolver.render_answer

    def rendered_otherwise(self: http_api.BridgeResolver, *args: Any) -> dict[str, Any]:
        built = rendered(self, *args)
        return {**built, "headers": {**built["headers"], "X-Written": "in the transaction"}}

    monkeypatch.setattr(http_api.BridgeResolver, "render_answer", rendered_otherwise)
    key = uuid.uuid4().hex
    hold = {"customer_id": customer, "cart_id": "cart-3", "points": 3, "order_total": "20.00"}
    first = send(counted, "/v1/checkout/redemptions", hold, key)
    assert first["statusCode"] == 201
    assert "X-Written" not in first["headers"]
    assert calls.count("UpdateItem", idempotency) == 1  # Powertools' own completion, with what was sent
    assert record_of(aws, first)["status"]["S"] == "COMPLETED"
    assert send(counted, "/v1/checkout/redemptions", hold, key) == first
    assert Counter(call for call, _ in calls.seen)["TransactWriteItems"] == 1


def test_a_credit_still_running_after_its_deadline_leaves_the_answer_sent(
    aws: Provisioned, checkout: tuple[Counted, Calls, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The order's platform call outlives its deadline: the request answers 202 (queued)
    while the call goes on in the background (services/deadline.py). The credit it then
    writes carries no completion: the record keeps the 202 sent, the points come once."""
    counted, _, customer = checkout
    from loyalty_bridge.adapters.ledger import DynamoDbLedger

    posted = DynamoDbLedger.post_new_order_recorded
    started, finished = threading.Event(), threading.Event()

    def slow(self: DynamoDbLedger, *args: Any, **kwargs: Any) -> Any:
        started.set()
        time.sleep(0.5)
        try:
            return posted(self, *args, **kwargs)
        finally:
            finished.set()

    monkeypatch.setattr(DynamoDbLedger, "post_new_order_recorded", slow)
    monkeypatch.setenv("ORDER_SYNC_DEADLINE_SECONDS", "0.05")
    wiring.reset()
    key, order_id = uuid.uuid4().hex, f"o-{uuid.uuid4().hex[:8]}"
    first = send(counted, "/v1/orders", order_body(customer, order_id), key)
    assert first["statusCode"] == 202, first
    assert started.is_set()
    # Another request served by the same container while the credit is still running.
    hold = {"customer_id": customer, "cart_id": "cart-9", "points": 1, "order_total": "20.00"}
    assert send(counted, "/v1/checkout/redemptions", hold, uuid.uuid4().hex)["statusCode"] == 201
    assert finished.wait(5)
    counted.drain()  # the queued order: settled by the worker as credited already
    assert send(counted, "/v1/orders", order_body(customer, order_id), key) == first
    assert record_of(aws, first)["status"]["S"] == "COMPLETED"
    summary = counted.call("membership_api", "GET", f"/v1/customers/{customer}/loyalty")[1]
    assert summary["points"]["pending"] == 20  # credited once

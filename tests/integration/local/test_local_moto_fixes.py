"""moto's TransactWriteItems as the local stack patches it (bridge_local.moto_fixes): a
cancelled transaction undoes only its own items, so a write made by another caller
meanwhile survives; a committed one keeps every write. An update replaces the stored
attributes at once, so a reader holding the item sees it before or after, never between."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from bridge_local import moto_fixes
from tests.integration.profile.conftest import create_bridge_table


@pytest.fixture(autouse=True)
def _in_process_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests run on mock_aws in this process: not on the session's moto server, whose
    endpoint the ``moto_server`` fixture exports for the rest of the session."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


@pytest.fixture
def ddb() -> Iterator[Any]:
    moto_fixes.apply()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_bridge_table(client, "t")
        yield client


def _put(pk: str, sk: str, value: str, **extra: Any) -> dict[str, Any]:
    return {"Put": {"TableName": "t", "Item": {"pk": {"S": pk}, "sk": {"S": sk}, "v": {"S": value}}, **extra}}


def _value(ddb: Any, pk: str, sk: str) -> str | None:
    item = ddb.get_item(TableName="t", Key={"pk": {"S": pk}, "sk": {"S": sk}}).get("Item")
    return item["v"]["S"] if item else None


def test_a_committed_transaction_keeps_every_write(ddb: Any) -> None:
    ddb.transact_write_items(TransactItems=[_put("a", "1", "x"), _put("b", "1", "y")])
    assert (_value(ddb, "a", "1"), _value(ddb, "b", "1")) == ("x", "y")


def test_a_cancelled_transaction_undoes_only_its_own_items(ddb: Any) -> None:
    ddb.put_item(TableName="t", Item={"pk": {"S": "a"}, "sk": {"S": "1"}, "v": {"S": "before"}})
    ddb.put_item(TableName="t", Item={"pk": {"S": "other"}, "sk": {"S": "1"}, "v": {"S": "kept"}})
    with pytest.raises(ClientError) as refused:
        ddb.transact_write_items(
            TransactItems=[
                _put("a", "1", "changed"),  # applied by moto, then undone
                _put("new", "1", "created"),  # created, then removed again
                _put("a", "2", "z", ConditionExpression="attribute_exists(pk)"),  # fails
            ]
        )
    assert refused.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert _value(ddb, "a", "1") == "before"
    assert _value(ddb, "new", "1") is None
    assert _value(ddb, "a", "2") is None
    assert _value(ddb, "other", "1") == "kept"
    # The table is still whole: a later transaction on the same items works.
    ddb.transact_write_items(TransactItems=[_put("a", "1", "after"), _put("new", "1", "made")])
    assert (_value(ddb, "a", "1"), _value(ddb, "new", "1")) == ("after", "made")


def test_a_query_on_the_key_answers_its_partition_in_order(ddb: Any) -> None:
    for pk, sk in (("b", "2"), ("a", "9"), ("b", "1"), ("c", "1"), ("b", "3")):
        ddb.put_item(TableName="t", Item={"pk": {"S": pk}, "sk": {"S": sk}, "v": {"S": pk + sk}})
    query = {
        "TableName": "t",
        "KeyConditionExpression": "pk = :p",
        "ExpressionAttributeValues": {":p": {"S": "b"}},
    }
    assert [i["v"]["S"] for i in ddb.query(**query)["Items"]] == ["b1", "b2", "b3"]
    assert [i["v"]["S"] for i in ddb.query(**query, ScanIndexForward=False, Limit=2)["Items"]] == ["b3", "b2"]
    ranged = {**query, "KeyConditionExpression": "pk = :p AND sk > :s"}
    ranged["ExpressionAttributeValues"] = {":p": {"S": "b"}, ":s": {"S": "1"}}
    assert [i["v"]["S"] for i in ddb.query(**ranged)["Items"]] == ["b2", "b3"]
    missing = {**query, "ExpressionAttributeValues": {":p": {"S": "zz"}}}
    assert ddb.query(**missing)["Items"] == []
    assert len(ddb.scan(TableName="t")["Items"]) == 5  # a scan still sees every partition


def _stored_item(pk: str, sk: str) -> Any:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.dynamo_type import DynamoType

    table = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].tables["t"]
    return table.items[DynamoType({"S": pk})][DynamoType({"S": sk})]


def test_an_update_replaces_the_attributes_a_reader_holds_at_once(ddb: Any) -> None:
    item = {"pk": {"S": "c"}, "sk": {"S": "P"}, "v": {"S": "old"}, "n": {"N": "1"}}
    ddb.put_item(TableName="t", Item=item)
    held = _stored_item("c", "P").attrs  # what a reader serialising the item meanwhile iterates
    ddb.update_item(
        TableName="t",
        Key={"pk": {"S": "c"}, "sk": {"S": "P"}},
        UpdateExpression="SET n = :n, v = :v",
        ExpressionAttributeValues={":n": {"N": "2"}, ":v": {"S": "new"}},
    )
    assert (held["v"].value, held["n"].value) == ("old", "1")  # the whole old version
    assert _value(ddb, "c", "P") == "new"
    assert _stored_item("c", "P").attrs["n"].value == "2"


def test_a_failed_update_leaves_the_item_as_it_was(ddb: Any) -> None:
    item = {"pk": {"S": "c"}, "sk": {"S": "Q"}, "v": {"S": "kept"}, "n": {"N": "1"}}
    ddb.put_item(TableName="t", Item=item)
    with pytest.raises(ClientError):
        ddb.update_item(  # the first action applies, the second fails (ADD to a string)
            TableName="t",
            Key={"pk": {"S": "c"}, "sk": {"S": "Q"}},
            UpdateExpression="SET n = :n ADD v :one",
            ExpressionAttributeValues={":n": {"N": "5"}, ":one": {"N": "1"}},
        )
    assert _stored_item("c", "Q").attrs["n"].value == "1"
    assert _value(ddb, "c", "Q") == "kept"


def test_two_receives_on_a_fifo_queue_never_take_one_group_at_once() -> None:
    """The first receive is held after it has read which groups are in flight and before it
    takes its message; a second receive meanwhile must take nothing of that group (unpatched
    moto let it take the group's first message, and the first receive then took the second)."""
    import threading

    from moto.sqs.models import Message

    moto_fixes.apply()
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(
            QueueName="jobs.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
        )["QueueUrl"]
        for n in range(2):
            sqs.send_message(QueueUrl=url, MessageBody=f"m{n}", MessageGroupId="customer-1")
        first_holds, second_done = threading.Event(), threading.Event()
        visible = Message.visible

        def held(self: Any) -> bool:
            if threading.current_thread().name == "first" and not first_holds.is_set():
                first_holds.set()
                second_done.wait(1.0)  # the patched receive keeps the second out meanwhile
            return bool(visible.fget(self))  # type: ignore[attr-defined]

        got: dict[str, list[str]] = {}

        def receive(name: str) -> None:
            answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=0)
            got[name] = [m["Body"] for m in answer.get("Messages", [])]

        Message.visible = property(held)  # type: ignore[method-assign,assignment]
        try:
            first = threading.Thread(target=receive, args=("first",), name="first")
            first.start()
            assert first_holds.wait(5)
            second = threading.Thread(target=receive, args=("second",), name="second")
            second.start()
            second.join(0.5)
            second_done.set()
            first.join(5)
            second.join(5)
        finally:
            Message.visible = visible  # type: ignore[method-assign]
        assert got == {"first": ["m0"], "second": []}

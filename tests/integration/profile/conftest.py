"""Profile-sync integration fixtures: moto (in-process) tables and queues shaped like
template.yaml, a fake Mailchimp over real HTTP on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws

if TYPE_CHECKING:
    from tests.fake_mailchimp import FakeMailchimp

ERRORS_TABLE = "errors"
BRIDGE_TABLE = "bridge"


def create_errors_table(client: Any, name: str = ERRORS_TABLE) -> None:
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "error_id", "AttributeType": "S"},
            {"AttributeName": "list_pk", "AttributeType": "S"},
            {"AttributeName": "created_sk", "AttributeType": "S"},
            {"AttributeName": "category", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "error_id", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_time",
                "KeySchema": [
                    {"AttributeName": "list_pk", "KeyType": "HASH"},
                    {"AttributeName": "created_sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": "by_category",
                "KeySchema": [
                    {"AttributeName": "category", "KeyType": "HASH"},
                    {"AttributeName": "created_sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
        ],
    )


def create_bridge_table(client: Any, name: str = BRIDGE_TABLE) -> None:
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
    )


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield


@pytest.fixture
def dynamodb(aws_env: None) -> Any:
    client = boto3.client("dynamodb", region_name="us-east-1")
    create_errors_table(client)
    create_bridge_table(client)
    return client


@pytest.fixture
def fake_mailchimp() -> Iterator[FakeMailchimp]:
    from tests.fake_mailchimp import FakeMailchimp

    with FakeMailchimp(api_key="0123456789abcdef0123456789abcdef-us21", list_id="list1") as server:
        yield server

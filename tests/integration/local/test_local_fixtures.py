"""The root fixtures other areas build on: ``aws`` gives real template resources in moto
and the environment the functions would get, so ``wiring`` talks to them."""

from __future__ import annotations

import os

from bridge_local.resources import Provisioned
from loyalty_bridge import wiring


def test_aws_fixture_creates_the_template_resources_and_exports_their_names(aws: Provisioned) -> None:
    assert os.environ["BRIDGE_TABLE"] == aws.tables["BridgeTable"]
    assert os.environ["MEMBERSHIP_QUEUE_URL"] == aws.queues["MembershipQueue"].url
    assert os.environ["PLATFORM_SECRET_ARN"] == aws.secrets["PlatformSecret"]
    settings = wiring.settings()
    assert settings.ledger_table == aws.tables["LedgerTable"]
    assert settings.aws_endpoint_url == aws.endpoint_url

    ddb = wiring.aws_client("dynamodb")
    ddb.put_item(TableName=settings.bridge_table, Item={"pk": {"S": "p"}, "sk": {"S": "s"}})
    assert ddb.get_item(TableName=settings.bridge_table, Key={"pk": {"S": "p"}, "sk": {"S": "s"}})["Item"]

    sqs = wiring.aws_client("sqs")
    fifo = sqs.get_queue_attributes(QueueUrl=settings.profile_sync_queue_url, AttributeNames=["FifoQueue"])
    assert fifo["Attributes"]["FifoQueue"] == "true"


def test_each_test_gets_fresh_resources(aws: Provisioned) -> None:
    ddb = wiring.aws_client("dynamodb")
    assert ddb.scan(TableName=wiring.settings().bridge_table)["Count"] == 0

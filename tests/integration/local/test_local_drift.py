"""template.yaml and the local stack cannot drift: every function, route, table, queue,
secret and event source declared in the template is served or created by ``make run``.

The template is read here with cfn-lint's decoder, independently of bridge_local's own
parser, so a parser bug cannot hide a missing resource.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from cfnlint.decode import decode_str

from bridge_local.stack import LocalStackProcess

ROOT = Path(__file__).resolve().parents[3]


def _template() -> dict[str, Any]:
    document, problems = decode_str((ROOT / "template.yaml").read_text())
    assert not problems, problems
    assert document is not None
    return dict(document)


def _of_type(kind: str) -> dict[str, Any]:
    return {lid: r for lid, r in _template()["Resources"].items() if r["Type"] == kind}


def _events(kind: str) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for lid, resource in _of_type("AWS::Serverless::Function").items():
        for name, event in (resource["Properties"].get("Events") or {}).items():
            if event["Type"] == kind:
                found.append((lid, name, event["Properties"]))
    return found


def _target(ref: Any) -> str:
    return str(ref["Fn::GetAtt"][0] if "Fn::GetAtt" in ref else ref["Ref"])


@pytest.fixture(scope="module")
def status(local_stack: LocalStackProcess) -> dict[str, Any]:
    return local_stack.status()


def test_every_function_is_loaded(status: dict[str, Any]) -> None:
    functions = _of_type("AWS::Serverless::Function")
    assert set(status["functions"]) == set(functions)
    broken = {lid: f["error"] for lid, f in status["functions"].items() if not f["loaded"]}
    assert broken == {}


def test_every_table_exists_with_its_keys_and_indexes(
    local_stack: LocalStackProcess, status: dict[str, Any]
) -> None:
    tables = _of_type("AWS::DynamoDB::Table")
    assert set(status["tables"]) == set(tables)
    ddb = local_stack.client("dynamodb")
    for lid, resource in tables.items():
        props = resource["Properties"]
        described = ddb.describe_table(TableName=status["tables"][lid])["Table"]
        assert described["KeySchema"] == props["KeySchema"], lid
        indexes = {i["IndexName"]: i["KeySchema"] for i in described.get("GlobalSecondaryIndexes", [])}
        assert indexes == {i["IndexName"]: i["KeySchema"] for i in props.get("GlobalSecondaryIndexes", [])}, (
            lid
        )
        ttl = ddb.describe_time_to_live(TableName=status["tables"][lid])["TimeToLiveDescription"]
        if "TimeToLiveSpecification" in props:
            assert ttl["AttributeName"] == props["TimeToLiveSpecification"]["AttributeName"], lid


def test_every_queue_exists_with_its_settings(local_stack: LocalStackProcess, status: dict[str, Any]) -> None:
    queues = _of_type("AWS::SQS::Queue")
    assert set(status["queues"]) == set(queues)
    sqs = local_stack.client("sqs")
    for lid, resource in queues.items():
        props = resource.get("Properties") or {}
        attributes = sqs.get_queue_attributes(QueueUrl=status["queues"][lid]["url"], AttributeNames=["All"])[
            "Attributes"
        ]
        assert (attributes.get("FifoQueue") == "true") == bool(props.get("FifoQueue")), lid
        if "VisibilityTimeout" in props:
            assert attributes["VisibilityTimeout"] == str(props["VisibilityTimeout"]), lid
        if "RedrivePolicy" in props:
            redrive = json.loads(attributes["RedrivePolicy"])
            dlq = _target(props["RedrivePolicy"]["deadLetterTargetArn"])
            assert redrive["deadLetterTargetArn"] == status["queues"][dlq]["arn"], lid
            assert int(redrive["maxReceiveCount"]) == props["RedrivePolicy"]["maxReceiveCount"], lid


def test_every_secret_exists(local_stack: LocalStackProcess, status: dict[str, Any]) -> None:
    secrets = _of_type("AWS::SecretsManager::Secret")
    assert set(status["secrets"]) == set(secrets)
    manager = local_stack.client("secretsmanager")
    for lid in secrets:
        value = manager.get_secret_value(SecretId=status["secrets"][lid])["SecretString"]
        assert isinstance(value, str), lid


def test_local_signing_keys_are_stored_where_the_functions_look(local_stack: LocalStackProcess) -> None:
    prefix = local_stack.info["stack_name"] + "/keys/"
    manager = local_stack.client("secretsmanager")
    for key in local_stack.keys:
        stored = json.loads(manager.get_secret_value(SecretId=f"{prefix}{key.key_id}")["SecretString"])
        assert stored == {"secret": key.secret, "scope": key.scope}


def test_every_sqs_event_source_has_a_running_poller(status: dict[str, Any]) -> None:
    expected = {
        (lid, name, _target(props["Queue"]), props.get("BatchSize", 10))
        for lid, name, props in _events("SQS")
    }
    running = {
        (p["function"], p["event"], p["queue"], p["batch_size"]) for p in status["pollers"] if p["alive"]
    }
    assert expected
    assert running == expected
    reporting = {
        (lid, name)
        for lid, name, props in _events("SQS")
        if "ReportBatchItemFailures" in props.get("FunctionResponseTypes", [])
    }
    assert {(p["function"], p["event"]) for p in status["pollers"] if p["report_failures"]} == reporting


def test_every_schedule_is_driven(status: dict[str, Any]) -> None:
    expected = sorted((lid, props["Schedule"]) for lid, _, props in _events("Schedule"))
    assert sorted((s["function"], s["expression"]) for s in status["schedules"]) == expected


def test_no_template_route_collides_with_the_local_control_prefix() -> None:
    assert all(not props["Path"].startswith("/__local/") for _, _, props in _events("HttpApi"))


@pytest.mark.parametrize(
    ("function", "method", "path"),
    [(lid, props["Method"].upper(), props["Path"]) for lid, _, props in _events("HttpApi")],
    ids=lambda value: str(value),
)
def test_every_route_reaches_its_function(
    local_stack: LocalStackProcess, function: str, method: str, path: str
) -> None:
    concrete = re.sub(r"\{[^}]+\}", "drift-probe", path)
    before = local_stack.status()["functions"][function]["invocations"]
    with httpx.Client(base_url=local_stack.base_url, timeout=30) as http:
        response = http.request(method, concrete)
    assert response.status_code != 404 or response.headers.get("content-type") != "application/json"
    assert local_stack.status()["functions"][function]["invocations"] > before

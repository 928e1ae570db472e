"""Least privilege in template.yaml (issue 7): no wildcard actions, and no wildcard
resources where the resource has a name, except the listed, justified cases."""

from __future__ import annotations

from typing import Any

import pytest

from tests.ops.cfn import resources

# Actions whose resource can only be "*": each with the reason. Keyed by the statement's
# sorted action tuple, so widening an excepted statement with another action fails.
RESOURCE_STAR_EXCEPTIONS: dict[tuple[str, ...], str] = {
    ("sns:Publish",): "SMS to a phone number has no ARN; the statement's Condition "
    '"Null": {"sns:Protocol": "true"} keeps it off topics',
    ("sns:CheckIfPhoneNumberIsOptedOut", "sns:OptInPhoneNumber"): "account-level SMS opt-out "
    "list APIs: IAM has no resource type for them",
    ("xray:PutTelemetryRecords", "xray:PutTraceSegments"): "X-Ray has no resource-level permissions "
    "(SAM adds these for Tracing: Active)",
    ("cloudwatch:PutMetricData",): "CloudWatch metrics have no resource ARN (we use EMF through logs, "
    "so this should stay unused)",
}

# SAM policy templates we allow; each is scoped to the one resource named in its parameter.
SCOPED_POLICY_TEMPLATES = {
    "DynamoDBCrudPolicy": "TableName",
    "DynamoDBReadPolicy": "TableName",
    "DynamoDBWritePolicy": "TableName",
    "SQSSendMessagePolicy": "QueueName",
    "SQSPollerPolicy": "QueueName",
    "S3ReadPolicy": "BucketName",  # GetObject(Version), ListBucket on that bucket only
    "SESCrudPolicy": "IdentityName",
    "SESSendBouncePolicy": "IdentityName",
    "SNSPublishMessagePolicy": "TopicName",
    "AWSSecretsManagerGetSecretValuePolicy": "SecretArn",
}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements() -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    for lid, res in resources().items():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::Serverless::Function":
            for policy in _as_list(props.get("Policies", [])):
                if isinstance(policy, dict) and "Statement" in policy:
                    found += [(lid, s) for s in _as_list(policy["Statement"])]
        elif res["Type"] in {"AWS::IAM::Role"}:
            for policy in props.get("Policies", []):
                found += [(lid, s) for s in _as_list(policy["PolicyDocument"]["Statement"])]
        elif res["Type"] in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}:
            found += [(lid, s) for s in _as_list(props["PolicyDocument"]["Statement"])]
    return found


STATEMENTS = _statements()


def test_there_are_statements_to_check():
    assert len(STATEMENTS) >= 5


@pytest.mark.parametrize(("lid", "statement"), STATEMENTS, ids=[lid for lid, _ in STATEMENTS])
def test_no_wildcard_actions(lid, statement):
    assert "NotAction" not in statement, lid
    for action in _as_list(statement["Action"]):
        assert isinstance(action, str), lid
        assert "*" not in action, f"{lid}: wildcard action {action}"


@pytest.mark.parametrize(("lid", "statement"), STATEMENTS, ids=[lid for lid, _ in STATEMENTS])
def test_no_wildcard_resources_where_a_name_is_known(lid, statement):
    assert "NotResource" not in statement, lid
    for resource in _as_list(statement["Resource"]):
        if resource == "*":
            actions = tuple(sorted(_as_list(statement["Action"])))
            assert actions in RESOURCE_STAR_EXCEPTIONS, f'{lid}: Resource "*" for {actions}'
            continue
        text = resource if isinstance(resource, str) else resource.get("Fn::Sub", "")
        if isinstance(text, str) and "*" in text:
            # Only a trailing wildcard after a named prefix (secret ARNs end in a random suffix;
            # "<stack>/keys/*" is the storefront and admin signing keys).
            head, _, tail = text.rpartition("*")
            assert tail == "", f"{lid}: {text}"
            assert "*" not in head, f"{lid}: {text}"
            assert head.endswith(("/", "-")), f"{lid}: {text}"
            assert ":secret:" in head, f"{lid}: wildcard resource {text}"


def test_the_sns_publish_exception_keeps_its_condition():
    for lid, statement in STATEMENTS:
        if "sns:Publish" in _as_list(statement["Action"]) and statement["Resource"] == "*":
            assert statement.get("Condition") == {"Null": {"sns:Protocol": "true"}}, lid


def test_functions_use_only_scoped_policy_templates():
    for lid, fn in resources("AWS::Serverless::Function").items():
        for policy in _as_list(fn["Properties"].get("Policies", [])):
            assert not isinstance(policy, str), f"{lid}: managed policy {policy} (too broad)"
            if "Statement" in policy:
                continue
            ((name, params),) = policy.items()
            assert name in SCOPED_POLICY_TEMPLATES, f"{lid}: policy template {name} not reviewed"
            target = params[SCOPED_POLICY_TEMPLATES[name]]
            assert isinstance(target, dict), f"{lid}: {name} must name a resource of this stack"

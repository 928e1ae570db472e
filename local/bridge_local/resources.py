"""Create every table, queue and secret of template.yaml in moto, from the template itself.

Names are deterministic per stack name (``{stack}-{LogicalId}``) unless the template names
a resource; Ref/GetAtt values are recorded in the Resolver so the functions' environment
points at what was really created.
"""

from __future__ import annotations

import json
import secrets
import string
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from bridge_local.template import (
    BUCKET,
    FUNCTION,
    QUEUE,
    SECRET,
    TABLE,
    Resolver,
    Template,
    Unresolvable,
)

FAKE_ACCESS_KEY = "testing"
FAKE_SECRET_KEY = "testing"  # noqa: S105 (moto accepts any credentials)

# Signing keys the local stack adds next to the template's own (API.md: key id "local").
DEV_SECRET = "local-dev-secret-change-me"  # noqa: S105 (a published local default)
DEV_ADMIN_SECRET = "local-dev-admin-secret-change-me"  # noqa: S105


@dataclass(frozen=True)
class SigningKey:
    key_id: str
    secret: str
    scope: str


@dataclass(frozen=True)
class QueueInfo:
    logical_id: str
    name: str
    url: str
    arn: str
    fifo: bool


@dataclass
class Provisioned:
    endpoint_url: str
    region: str
    stack_name: str
    resolver: Resolver
    tables: dict[str, str] = field(default_factory=dict)  # logical id -> table name
    queues: dict[str, QueueInfo] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)  # logical id -> ARN
    buckets: dict[str, str] = field(default_factory=dict)  # logical id -> bucket name
    identities: list[str] = field(default_factory=list)
    signing_keys: list[SigningKey] = field(default_factory=list)
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def client(self, service: str) -> Any:
        """One client per service (boto3 clients are thread-safe; creating them is slow)."""
        with self._lock:
            if service not in self._clients:
                self._clients[service] = aws_client(service, self.endpoint_url, self.region)
            return self._clients[service]

    def queue_by_arn(self, arn: str) -> QueueInfo:
        for queue in self.queues.values():
            if queue.arn == arn:
                return queue
        raise KeyError(arn)


_SESSIONS: dict[str, Any] = {}
_SESSION_LOCK = threading.Lock()


def aws_client(service: str, endpoint_url: str, region: str) -> Any:
    """A client on moto with fake credentials. One boto3 session per region, so service
    models are loaded once; sessions are not thread-safe, hence the lock."""
    with _SESSION_LOCK:
        if region not in _SESSIONS:
            _SESSIONS[region] = boto3.session.Session(
                aws_access_key_id=FAKE_ACCESS_KEY, aws_secret_access_key=FAKE_SECRET_KEY, region_name=region
            )
        return _SESSIONS[region].client(
            service,
            endpoint_url=endpoint_url,
            # Shared by every poller loop (8 queues x 4) and the stack's control calls: more
            # than botocore's 10 pooled connections, which it would discard and reopen.
            config=Config(
                retries={"mode": "standard", "max_attempts": 3}, read_timeout=30, max_pool_connections=64
            ),
        )


def _fallback(resolver: Resolver) -> Any:
    """Ref/GetAtt values for resources the local world does not create (log groups, layers,
    the HTTP API, the functions themselves): plausible, stable strings."""

    def value(logical_id: str, attribute: str | None) -> str:
        resource_type = resolver.template.resources[logical_id].get("Type", "")
        stack, region, account = resolver.stack_name, resolver.region, resolver.account_id
        if resource_type == FUNCTION:
            name = f"{stack}-{logical_id}"
            return f"arn:aws:lambda:{region}:{account}:function:{name}" if attribute == "Arn" else name
        if resource_type == "AWS::Logs::LogGroup":
            name = f"/aws/local/{stack}/{logical_id}"
            return f"arn:aws:logs:{region}:{account}:log-group:{name}:*" if attribute == "Arn" else name
        if resource_type == "AWS::Serverless::HttpApi":
            from bridge_local.template import API_ID

            return API_ID
        if attribute in ("Arn", "ARN"):
            return f"arn:aws:local:{region}:{account}:{stack}/{logical_id}"
        if attribute:
            return f"{stack}-{logical_id}-{attribute}"
        return f"{stack}-{logical_id}"

    return value


def _depends_on(value: Any, candidates: set[str]) -> set[str]:
    found: set[str] = set()
    if isinstance(value, dict):
        if "Ref" in value and value["Ref"] in candidates:
            found.add(value["Ref"])
        target = value.get("Fn::GetAtt")
        if isinstance(target, list) and target and target[0] in candidates:
            found.add(target[0])
        if isinstance(value.get("Fn::Sub"), str):
            for name in candidates:
                if "${" + name in value["Fn::Sub"]:
                    found.add(name)
        for item in value.values():
            found |= _depends_on(item, candidates)
    elif isinstance(value, list):
        for item in value:
            found |= _depends_on(item, candidates)
    return found


def _creation_order(template: Template) -> list[str]:
    """Tables, queues, secrets and buckets in dependency order (a DLQ before the queue that
    uses it, a queue before the bucket that notifies it)."""
    wanted = {
        lid for lid, res in template.resources.items() if res.get("Type") in (TABLE, QUEUE, SECRET, BUCKET)
    }
    deps = {
        lid: _depends_on(template.resources[lid].get("Properties") or {}, wanted - {lid}) for lid in wanted
    }
    order: list[str] = []
    while deps:
        ready = sorted(lid for lid, needs in deps.items() if needs <= set(order))
        if not ready:
            raise Unresolvable(f"circular references between {sorted(deps)}")
        order.extend(ready)
        for lid in ready:
            del deps[lid]
    return order


def _generate_secret(spec: Mapping[str, Any]) -> str:
    alphabet = string.ascii_letters + string.digits
    if not spec.get("ExcludePunctuation"):
        alphabet += "!#$%&()*+,-.:;<=>?@[]^_{|}~"
    excluded = str(spec.get("ExcludeCharacters", ""))
    alphabet = "".join(c for c in alphabet if c not in excluded)
    length = int(spec.get("PasswordLength", 32))
    generated = "".join(secrets.choice(alphabet) for _ in range(length))
    template = spec.get("SecretStringTemplate")
    if template is None:
        return generated
    document = json.loads(template)
    document[str(spec.get("GenerateStringKey", "password"))] = generated
    return json.dumps(document)


def _create_table(ddb: Any, name: str, props: Mapping[str, Any]) -> None:
    args: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    if args["BillingMode"] == "PROVISIONED":
        args["ProvisionedThroughput"] = props.get(
            "ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
        )
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if props.get(key):
            indexes = [dict(index) for index in props[key]]
            if args["BillingMode"] == "PAY_PER_REQUEST":
                for index in indexes:
                    index.pop("ProvisionedThroughput", None)
            args[key] = indexes
    if props.get("StreamSpecification"):
        args["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    if props.get("SSESpecification"):
        args["SSESpecification"] = {"Enabled": bool(props["SSESpecification"].get("SSEEnabled"))}
    try:
        ddb.create_table(**args)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceInUseException":
            raise
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        ddb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
        )


_QUEUE_ATTRIBUTES = (
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "DelaySeconds",
    "FifoQueue",
    "FifoThroughputLimit",
    "KmsDataKeyReusePeriodSeconds",
    "KmsMasterKeyId",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "RedriveAllowPolicy",
    "RedrivePolicy",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
)


def _attribute_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _create_queue(sqs: Any, name: str, props: Mapping[str, Any]) -> tuple[str, str]:
    attributes = {key: _attribute_string(props[key]) for key in _QUEUE_ATTRIBUTES if key in props}
    if attributes.get("FifoQueue") == "false":
        del attributes["FifoQueue"]
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def _create_bucket(s3: Any, name: str, props: Mapping[str, Any]) -> None:
    """The bucket with its versioning and its ObjectCreated notifications to SQS: moto sends
    them to the queue, whose poller hands them to the function as Lambda's event source would."""
    try:
        s3.create_bucket(Bucket=name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    if (props.get("VersioningConfiguration") or {}).get("Status") == "Enabled":
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    queues = (props.get("NotificationConfiguration") or {}).get("QueueConfigurations") or []
    if queues:
        s3.put_bucket_notification_configuration(
            Bucket=name,
            NotificationConfiguration={
                "QueueConfigurations": [{"QueueArn": q["Queue"], "Events": [q["Event"]]} for q in queues]
            },
        )


def _put_secret(sm: Any, name: str, value: str, description: str = "") -> str:
    try:
        arn: str = sm.create_secret(Name=name, SecretString=value, Description=description)["ARN"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceExistsException":
            raise
        arn = sm.put_secret_value(SecretId=name, SecretString=value)["ARN"]
    return arn


def provision(
    template: Template,
    endpoint_url: str,
    *,
    stack_name: str = "loyalty-bridge",
    region: str = "us-east-1",
    parameter_overrides: Mapping[str, str] | None = None,
    signing_keys: list[SigningKey] | None = None,
) -> Provisioned:
    resolver = Resolver(
        template=template,
        stack_name=stack_name,
        region=region,
        parameter_overrides=dict(parameter_overrides or {}),
    )
    resolver.fallback = _fallback(resolver)
    result = Provisioned(endpoint_url=endpoint_url, region=region, stack_name=stack_name, resolver=resolver)
    ddb, sqs, sm = result.client("dynamodb"), result.client("sqs"), result.client("secretsmanager")

    for lid in _creation_order(template):
        resource = template.resources[lid]
        props = resolver.resolve(resource.get("Properties") or {})
        kind = resource["Type"]
        if kind == TABLE:
            name = props.get("TableName") or f"{stack_name}-{lid}"
            _create_table(ddb, name, props)
            result.tables[lid] = name
            resolver.refs[lid] = name
            resolver.attrs[(lid, "Arn")] = f"arn:aws:dynamodb:{region}:{resolver.account_id}:table/{name}"
        elif kind == QUEUE:
            fifo = _attribute_string(props.get("FifoQueue", False)) == "true"
            name = props.get("QueueName") or f"{stack_name}-{lid}" + (".fifo" if fifo else "")
            url, arn = _create_queue(sqs, name, props)
            result.queues[lid] = QueueInfo(logical_id=lid, name=name, url=url, arn=arn, fifo=fifo)
            resolver.refs[lid] = url
            resolver.attrs[(lid, "Arn")] = arn
            resolver.attrs[(lid, "QueueName")] = name
            resolver.attrs[(lid, "QueueUrl")] = url
        elif kind == SECRET:
            name = props.get("Name") or f"{stack_name}/{lid}"
            if "SecretString" in props:
                value = str(props["SecretString"])
            elif "GenerateSecretString" in props:
                value = _generate_secret(props["GenerateSecretString"])
            else:
                value = ""
            arn = _put_secret(sm, name, value, str(props.get("Description", "")))
            result.secrets[lid] = arn
            resolver.refs[lid] = arn
            resolver.attrs[(lid, "Id")] = arn
        elif kind == BUCKET:
            name = props.get("BucketName") or f"{stack_name}-{lid}".lower()
            _create_bucket(result.client("s3"), name, props)
            result.buckets[lid] = name
            resolver.refs[lid] = name
            resolver.attrs[(lid, "Arn")] = f"arn:aws:s3:::{name}"

    # Extra signing keys under the prefix the functions read (SIGNING_SECRET_PREFIX).
    if signing_keys:
        prefixes = {
            resolver.environment(spec).get("SIGNING_SECRET_PREFIX") for spec in template.functions.values()
        } - {None, ""}
        for prefix in sorted(p for p in prefixes if p):
            for key in signing_keys:
                _put_secret(
                    sm,
                    f"{prefix}{key.key_id}",
                    json.dumps({"secret": key.secret, "scope": key.scope}),
                    f"local signing key {key.key_id} ({key.scope})",
                )
        result.signing_keys = list(signing_keys)

    # SES: verify every identity the template grants (SESCrudPolicy) and every SENDER_EMAIL.
    identities: set[str] = set()
    for spec in template.functions.values():
        for policy in spec.properties.get("Policies") or ():
            if isinstance(policy, dict) and "SESCrudPolicy" in policy:
                identities.add(str(resolver.resolve(policy["SESCrudPolicy"]).get("IdentityName", "")))
        sender = resolver.environment(spec).get("SENDER_EMAIL")
        if sender:
            identities.add(sender)
    ses = result.client("ses")
    for identity in sorted(i for i in identities if i):
        if "@" in identity:
            ses.verify_email_identity(EmailAddress=identity)
        else:
            ses.verify_domain_identity(Domain=identity)
    result.identities = sorted(i for i in identities if i)
    return result

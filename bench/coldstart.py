"""Cold start, two ways, each next to its ``boto3`` yardstick in fresh interpreters:

- **import** (the INIT proxy): importing the function's handler module, next to
  ``import boto3`` alone;
- **user-felt**: importing the handler module *and* its first invocation with a real event
  (``events/``, re-signed with the local stack's keys, fresh ids each run) against moto,
  next to ``import boto3`` plus one DynamoDB ``GetItem`` against the same moto. This is
  what the first caller of a new Lambda container waits for (minus the runtime's own
  start), so moving an import into the first invocation saves nothing here;
- **the floor**: the same user-felt measure of the least program on the project's fixed
  choices (``_FLOOR_WORKER``, ``_FLOOR_API``), beside which each function's ratio is what its
  own code adds.

Each sample is one the function would really get: ids fresh each run, and the customer it
is about signed up and joined first, untimed (``_PREPARED_BY``).

One moto server (``bridge_local.moto_server``) with every table, queue and secret of
template.yaml (``bridge_local.resources.provision``) serves every run; each timed run is a
new ``python`` process with the function's template environment pointed at that moto.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from bridge_local.resources import Provisioned, SigningKey, provision
from bridge_local.stack import aws_environment
from bridge_local.template import FunctionSpec, Template, load_template
from loyalty_bridge.signing import signed_headers

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"

# The event each function's first invocation gets (any other function: the first
# events/<name>_*.json; none: import only).
FIRST_EVENT = {
    "admin_api": "admin_api_list_errors.json",
    "authorizer": "authorizer_request.json",
    "checkout_api": "checkout_api_post_order.json",
    "membership_api": "membership_api_create_customer.json",
    "profile_api": "profile_api_update_profile.json",
    "membership_worker": "membership_worker_create.json",
    "order_worker": "order_worker_order_post.json",
    "profile_sync_worker": "profile_sync_worker_consents.json",
    "dlq_monitor": "dlq_monitor_profile_sync.json",
    "mailchimp_webhook": "mailchimp_webhook_unsubscribe.json",
    "member_import_worker": "member_import_worker_object_created.json",
}
WEBHOOK_SECRET = uuid.uuid4().hex
# Sample ids in events/ made unique per run (a replayed id would take a cheaper path).
_SAMPLE_IDS = re.compile(r"\b(c-1001|o-1001|cart-77|rf-1)\b|ann\.lee(?=@example\.com)")

_IMPORT_HANDLER = """
import importlib.util, sys, time
t = time.perf_counter()
spec = importlib.util.spec_from_file_location("app", {path!r})
module = importlib.util.module_from_spec(spec)
sys.modules["app"] = module  # as Lambda's runtime imports it: a real module named app
spec.loader.exec_module(module)
getattr(module, {attr!r})
print(time.perf_counter() - t)
"""

_IMPORT_BOTO3 = """
import time
t = time.perf_counter()
import boto3
print(time.perf_counter() - t)
"""

# The event is read and the context built before the clock starts: Lambda hands both in.
_FIRST_INVOCATION = """
import json, sys, time, uuid
event = json.loads(sys.stdin.read())
class Context:
    function_name = {name!r}
    memory_limit_in_mb = {memory}
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + {name!r}
    aws_request_id = str(uuid.uuid4())
    log_group_name = "/aws/lambda/" + {name!r}
    log_stream_name = "bench"
    function_version = "$LATEST"
    def get_remaining_time_in_millis(self):
        return 10000
context = Context()
t = time.perf_counter()
import importlib.util
spec = importlib.util.spec_from_file_location("app", {path!r})
module = importlib.util.module_from_spec(spec)
sys.modules["app"] = module
spec.loader.exec_module(module)
handler = getattr(module, {attr!r})
imported = time.perf_counter()
result = handler(event, context)
done = time.perf_counter()
status = result.get("statusCode", "ok") if isinstance(result, dict) else "ok"
if isinstance(result, dict) and "isAuthorized" in result:
    status = "allow" if result["isAuthorized"] else "deny"
if isinstance(result, dict) and result.get("batchItemFailures"):
    status = "%d failed" % len(result["batchItemFailures"])
print(json.dumps({{"import": imported - t, "total": done - t, "status": status}}))
"""

_BOTO3_GET_ITEM = """
import time
t = time.perf_counter()
import boto3
boto3.client("dynamodb").get_item(TableName={table!r}, Key={{"pk": {{"S": "bench"}}, "sk": {{"S": "bench"}}}})
print(time.perf_counter() - t)
"""

# The fixed stack's floor: the least any function built on this project's fixed choices
# (template.yaml's environment, a Powertools Logger, pydantic validating its input, boto3)
# can cost cold, timed like the user-felt figure. "worker": a Logger, one small model
# validating a JSON message, one GetItem. "api": that, plus the Powertools HTTP API resolver
# with validation answering one typed route and one GetSecretValue (every API function
# checks signatures with a key from Secrets Manager). A function's ratio to its floor is what
# its own code adds; the floor's ratio to boto3 + GetItem is what the fixed choices cost.
_FLOOR_WORKER = """
import json, time
t = time.perf_counter()
import boto3, pydantic
from aws_lambda_powertools import Logger
logger = Logger()
class Message(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)
    customer_id: str = pydantic.Field(min_length=1, max_length=64)
    points: int = 0
message = Message.model_validate_json('{{"customer_id": "c-1", "points": 5}}')
key = {{"pk": {{"S": message.customer_id}}, "sk": {{"S": "bench"}}}}
boto3.client("dynamodb").get_item(TableName={table!r}, Key=key)
{api}print(time.perf_counter() - t)
"""
_FLOOR_API = """from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
app = APIGatewayHttpResolver(enable_validation=True)
@app.get("/v1/floor/<customer_id>")
def floor(customer_id: str) -> dict:
    return {{"customer_id": customer_id}}
boto3.client("secretsmanager").get_secret_value(SecretId={secret!r})
event = {{"version": "2.0", "routeKey": "GET /v1/floor/{{customer_id}}", "rawPath": "/v1/floor/c-1",
    "rawQueryString": "", "headers": {{}}, "isBase64Encoded": False,
    "pathParameters": {{"customer_id": "c-1"}},
    "requestContext": {{"http": {{"method": "GET", "path": "/v1/floor/c-1", "sourceIp": "192.0.2.1"}},
        "stage": "$default", "requestId": "bench"}}}}
assert app.resolve(event, None)["statusCode"] == 200
"""

# Bytecode is cached (outside the tree) for every module on both sides of each ratio, as
# pip-installed packages have it: compiling our sources on every run would be measuring
# the build (a deployment package with .pyc files) rather than the code.
PYCACHE = Path(tempfile.gettempdir()) / "loyalty-bridge-coldstart-pycache"
# Settings a handler may read at import; fake values, nothing is contacted.
_ENV = {
    "PYTHONPYCACHEPREFIX": str(PYCACHE),
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "POWERTOOLS_SERVICE_NAME": "loyalty-bridge",
    "POWERTOOLS_METRICS_NAMESPACE": "LoyaltyBridge",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}


@cache
def _template() -> Template:
    """template.yaml, read once per bench run."""
    return load_template()


def _run(code: str, cwd: Path, env: Mapping[str, str], stdin: str = "") -> str:
    done = subprocess.run(  # noqa: S603 (our own interpreter, our own code)
        [sys.executable, "-c", code],
        cwd=cwd,
        env=dict(env),
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr else "failed")
    return done.stdout.strip().splitlines()[-1]


def _base_env() -> dict[str, str]:
    env = {**os.environ, **_ENV}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _import_env() -> dict[str, str]:
    env = _base_env()
    env.pop("AWS_ENDPOINT_URL", None)
    return env


def _time_once(code: str, cwd: Path) -> float:
    return float(_run(code, cwd, _import_env())) * 1000.0


def _median(code: str, cwd: Path, runs: int) -> float:
    return statistics.median(_time_once(code, cwd) for _ in range(runs))


# ---------------------------------------------------------------- the user-felt measure


@contextmanager
def _moto_stack() -> Iterator[tuple[Provisioned, SigningKey, SigningKey]]:
    """A moto server with template.yaml's resources and one storefront and one admin key."""
    from bridge_local.moto_server import MotoServer

    server = MotoServer()
    url = server.start()
    try:
        keys = [
            SigningKey("bench", uuid.uuid4().hex, "storefront"),
            SigningKey("bench-admin", uuid.uuid4().hex, "admin"),
        ]
        provisioned = provision(
            _template(),
            url,
            parameter_overrides={"Stage": "local"},
            signing_keys=keys,
        )
        # The template's Mailchimp secret is unset (every webhook is refused): give it a
        # webhook secret, so the webhook's first request is one Mailchimp would send.
        provisioned.client("secretsmanager").put_secret_value(
            SecretId=provisioned.secrets["MailchimpSecret"],
            SecretString=json.dumps({"api_key": "", "webhook_secret": WEBHOOK_SECRET}),
        )
        yield provisioned, keys[0], keys[1]
    finally:
        server.stop()


def function_environment(provisioned: Provisioned, spec: FunctionSpec) -> dict[str, str]:
    """A fresh interpreter's environment for ``spec``: its template variables, on moto."""
    return {
        **_base_env(),
        **provisioned.resolver.environment(spec),
        **aws_environment(provisioned.endpoint_url, provisioned.region),
        "AWS_LAMBDA_FUNCTION_NAME": f"bench-{spec.name}",
    }


def _event_file(spec: FunctionSpec) -> Path | None:
    preferred = FIRST_EVENT.get(spec.name)
    if preferred and (EVENTS / preferred).is_file():
        return EVENTS / preferred
    candidates = sorted([*EVENTS.glob(f"{spec.name}.json"), *EVENTS.glob(f"{spec.name}_*.json")])
    return candidates[0] if candidates else None


def first_event(
    path: Path, storefront: SigningKey, admin: SigningKey, suffix: str | None = None
) -> dict[str, Any]:
    """The sample event with fresh ids (``suffix``, random by default), a fresh
    Idempotency-Key and a valid signature now."""
    suffix = suffix or uuid.uuid4().hex[:8]
    text = _SAMPLE_IDS.sub(lambda m: f"{m.group(0)}-{suffix}", path.read_text(encoding="utf-8"))
    event: dict[str, Any] = json.loads(text)
    if "secret" in (event.get("queryStringParameters") or {}):  # the Mailchimp webhook's URL secret
        event["queryStringParameters"]["secret"] = WEBHOOK_SECRET
        event["rawQueryString"] = f"secret={WEBHOOK_SECRET}"
    headers = event.get("headers")
    if not isinstance(headers, dict) or "x-bridge-signature" not in headers:
        return event
    http = (event.get("requestContext") or {}).get("http") or {}
    method, raw_path = str(http.get("method", "GET")), str(event.get("rawPath", "/"))
    key = admin if raw_path.startswith("/v1/admin") else storefront
    query = str(event.get("rawQueryString") or "")
    body = event.get("body") or ""
    if "idempotency-key" in headers:
        headers["idempotency-key"] = str(uuid.uuid4())
    signing_target = f"{raw_path}?{query}" if query else raw_path
    for name, value in signed_headers(key.key_id, key.secret, method, signing_target, body).items():
        headers[name.lower()] = value
    return event


def _with_member_file(provisioned: Provisioned, event: dict[str, Any]) -> dict[str, Any]:
    """The member import's sample names an object: put a small member file there (in the
    stack's import bucket, fresh cards) and let the notification name what was put."""
    from loyalty_bridge.models.member_import import FIELDS
    from loyalty_bridge.program.card_numbers import luhn_check_digit

    record = event["Records"][0]
    notification = json.loads(record["body"])
    s3 = notification["Records"][0]["s3"]
    bucket = provisioned.buckets["MemberImportBucket"]
    lines = [",".join(FIELDS)]
    for n in range(3):
        payload = "65" + str(uuid.uuid4().int)[:13]
        row = {"card_number": payload + luhn_check_digit(payload), "balance": str(10 * n)}
        row |= {"email": f"m{n}.{uuid.uuid4().hex[:8]}@example.com", "first_name": f"M{n}"}
        lines.append(",".join(row.get(name, "") for name in FIELDS))
    body = ("\n".join(lines) + "\n").encode()
    put = provisioned.client("s3").put_object(Bucket=bucket, Key=s3["object"]["key"], Body=body)
    s3["bucket"] = {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"}
    s3["object"].update(size=len(body), eTag=str(put["ETag"]).strip('"'))
    if put.get("VersionId"):
        s3["object"]["versionId"] = put["VersionId"]
    record["body"] = json.dumps(notification)
    return event


def _first_invocation(provisioned: Provisioned, spec: FunctionSpec, event: dict[str, Any]) -> dict[str, Any]:
    code = _FIRST_INVOCATION.format(
        path=str(spec.module_file), attr=spec.handler_attr, name=f"bench-{spec.name}", memory=spec.memory
    )
    out = _run(code, spec.module_file.parent, function_environment(provisioned, spec), json.dumps(event))
    result: dict[str, Any] = json.loads(out)
    return result


def _boto3_get_item(provisioned: Provisioned, cwd: Path) -> float:
    env = {**_import_env(), "AWS_ENDPOINT_URL": provisioned.endpoint_url}
    table = next(iter(provisioned.tables.values()))
    return float(_run(_BOTO3_GET_ITEM.format(table=table), cwd, env)) * 1000.0


def _floors(provisioned: Provisioned, spec: FunctionSpec, cwd: Path) -> dict[str, float]:
    """One run of each floor program in a fresh interpreter, with the PYDANTIC_* settings the
    functions get from template.yaml (``spec``'s: they are Globals)."""
    table = next(iter(provisioned.tables.values()))
    secret = next(iter(provisioned.secrets.values()))
    settings = {k: v for k, v in provisioned.resolver.environment(spec).items() if k.startswith("PYDANTIC_")}
    env = {**_import_env(), **aws_environment(provisioned.endpoint_url, provisioned.region), **settings}
    api = _FLOOR_API.format(secret=secret)
    return {
        "worker": float(_run(_FLOOR_WORKER.format(table=table, api=""), cwd, env)) * 1000.0,
        "api": float(_run(_FLOOR_WORKER.format(table=table, api=api), cwd, env)) * 1000.0,
    }


# Functions whose sample is about a customer get a customer the stack knows: the
# storefront's own samples, run first (untimed, same ids), sign them up and join them, so
# the timed request or record takes the path a real one takes (a join, a profile change,
# an order credited), not a 404 or an incident for an unknown customer.
_SIGNUP = ("membership_api", "membership_api_create_customer.json")
_JOIN = ("membership_worker", "membership_worker_create.json")
_PREPARED_BY = {
    "membership_worker": (_SIGNUP,),
    "profile_api": (_SIGNUP,),
    "profile_sync_worker": (_SIGNUP,),
    "order_worker": (_SIGNUP, _JOIN),
    "checkout_api": (_SIGNUP, _JOIN),
}


def _prepared(
    provisioned: Provisioned, keys: tuple[SigningKey, SigningKey], spec: FunctionSpec, path: Path
) -> dict[str, Any]:
    """``spec``'s sample event, with what it is about put in place first (_PREPARED_BY)."""
    suffix = uuid.uuid4().hex[:8]
    for name, sample in _PREPARED_BY.get(spec.name, ()):
        done = _first_invocation(
            provisioned, _template().function_by_name(name), first_event(EVENTS / sample, *keys, suffix)
        )
        if str(done["status"]) not in ("202", "ok"):
            raise RuntimeError(f"preparing {spec.name}: {sample} answered {done['status']}")
    event = first_event(path, *keys, suffix)
    if spec.name == "member_import_worker":
        return _with_member_file(provisioned, event)
    if spec.name == "order_worker":  # the order names the member the join made
        record = event["Records"][0]
        message = json.loads(record["body"])
        item = provisioned.client("dynamodb").get_item(
            TableName=provisioned.tables["BridgeTable"],
            Key={"pk": {"S": f"CUSTOMER#{message['customer_id']}"}, "sk": {"S": "PROFILE"}},
            ConsistentRead=True,
        )
        message["payload"]["member_id"] = item["Item"]["member_id"]["S"]
        record["body"] = json.dumps(message)
    return event


def _user_felt(
    provisioned: Provisioned, keys: tuple[SigningKey, SigningKey], spec: FunctionSpec, runs: int
) -> dict[str, Any]:
    path = _event_file(spec)
    if path is None:
        return {"error": "no sample event in events/"}

    def event() -> dict[str, Any]:
        return _prepared(provisioned, keys, spec, path)

    samples = [_first_invocation(provisioned, spec, event()) for _ in range(runs + 1)][1:]
    return {
        "event": path.name,
        "first_status": sorted({str(s["status"]) for s in samples}),
        "import_ms": statistics.median(s["import"] for s in samples) * 1000.0,
        "first_invocation_ms": statistics.median(s["total"] - s["import"] for s in samples) * 1000.0,
        "user_felt_ms": statistics.median(s["total"] for s in samples) * 1000.0,
    }


def _is_api(spec: FunctionSpec) -> bool:
    """A function behind the HTTP API is compared with the api floor, every other one (queue
    workers, schedules, the authorizer) with the worker floor. Health, which has neither the
    resolver nor a model, is simply well under its floor."""
    events = spec.properties.get("Events") or {}
    return any((event or {}).get("Type") == "HttpApi" for event in events.values())


def measure(runs: int = 5, only: Sequence[str] = ()) -> dict[str, object]:
    """Per function: median handler import (ms) against ``import boto3``, and median import
    plus first invocation against ``import boto3`` + one GetItem, all in one run.

    ``only``: function names (``checkout_api``) or logical ids to measure (default: all)."""
    _time_once(_IMPORT_BOTO3, ROOT)  # warm the OS file cache once: we compare imports, not disks
    boto3_ms = _median(_IMPORT_BOTO3, ROOT, runs)
    specs = [
        (logical_id, spec)
        for logical_id, spec in sorted(_template().functions.items())
        if not only or spec.name in only or logical_id in only
    ]
    functions: dict[str, dict[str, object]] = {}
    for logical_id, spec in specs:
        code = _IMPORT_HANDLER.format(path=str(spec.module_file), attr=spec.handler_attr)
        try:
            _time_once(code, spec.module_file.parent)
            ms = _median(code, spec.module_file.parent, runs)
        except (RuntimeError, FileNotFoundError) as exc:
            functions[logical_id] = {"error": str(exc)}
            continue
        functions[logical_id] = {
            "import_ms": round(ms, 1),
            "ratio_to_boto3": round(ms / boto3_ms, 2),
            "memory_mb": spec.memory,
        }
    with _moto_stack() as (provisioned, storefront, admin):
        _boto3_get_item(provisioned, ROOT)
        get_item_ms = statistics.median(_boto3_get_item(provisioned, ROOT) for _ in range(runs))
        any_spec = next(iter(_template().functions.values()))
        _floors(provisioned, any_spec, ROOT)
        floor_runs = [_floors(provisioned, any_spec, ROOT) for _ in range(runs)]
        floors = {kind: statistics.median(run[kind] for run in floor_runs) for kind in ("worker", "api")}
        for logical_id, spec in specs:
            if "error" in functions[logical_id]:
                continue
            started = time.perf_counter()
            try:
                felt = _user_felt(provisioned, (storefront, admin), spec, runs)
            except RuntimeError as exc:
                felt = {"error": str(exc)}
            if "user_felt_ms" in felt:
                felt["ratio_to_boto3_get_item"] = round(float(felt["user_felt_ms"]) / get_item_ms, 2)
                kind = "api" if _is_api(spec) else "worker"
                felt["floor"] = kind
                felt["ratio_to_floor"] = round(float(felt["user_felt_ms"]) / floors[kind], 2)
                for name in ("import_ms", "first_invocation_ms", "user_felt_ms"):
                    felt[name] = round(float(felt[name]), 1)
            felt["bench_seconds"] = round(time.perf_counter() - started, 1)
            functions[logical_id]["user_felt"] = felt
    return {
        "runs": runs,
        "boto3_import_ms": round(boto3_ms, 1),
        "boto3_get_item_ms": round(get_item_ms, 1),
        "floor_ms": {kind: round(ms, 1) for kind, ms in floors.items()},
        "floor_ratio_to_boto3_get_item": {kind: round(ms / get_item_ms, 2) for kind, ms in floors.items()},
        "functions": functions,
    }


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m bench.coldstart [--runs N] [function ...]``: the cold-start figures alone."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("functions", nargs="*", help="function names (checkout_api) or logical ids")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.runs, args.functions), indent=2))


if __name__ == "__main__":
    main()

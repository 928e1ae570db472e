"""bridge_local reads template.yaml the way CloudFormation/SAM do (no moto needed here)."""

from __future__ import annotations

import os
import sys
import threading
import types
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode_str

from bridge_local.events import (
    batch_failures,
    compile_route,
    http_api_response,
    match_route,
    schedule_interval,
)
from bridge_local.runtime import Runtime, decide_mode
from bridge_local.template import FunctionSpec, Resolver, Unresolvable, load_template, parse_template

ROOT = Path(__file__).resolve().parents[3]


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def test_short_tags_parse_like_cfn_lint_does() -> None:
    ours = parse_template(ROOT / "template.yaml")
    theirs, problems = decode_str((ROOT / "template.yaml").read_text())
    assert not problems
    assert _plain(ours) == _plain(theirs)


def test_globals_are_merged_into_every_function() -> None:
    template = load_template(ROOT / "template.yaml")
    health = template.function_by_name("health")
    assert health.timeout == 3  # its own value wins
    assert health.memory == 256
    worker = template.function_by_name("membership_worker")
    assert worker.memory == 512  # from Globals
    assert "BRIDGE_TABLE" in worker.properties["Environment"]["Variables"]
    assert worker.module_file == ROOT / "functions" / "membership_worker" / "app.py"


def test_routes_carry_the_default_authorizer_unless_none() -> None:
    template = load_template(ROOT / "template.yaml")
    auth = {route.route_key: route.authorizer for route in template.routes}
    assert auth["GET /v1/health"] is None
    assert auth["POST /v1/customers"] == "SignatureAuthorizer"
    assert template.authorizers["SignatureAuthorizer"].function == "AuthorizerFunction"
    assert template.authorizers["SignatureAuthorizer"].simple_responses is True


def test_intrinsics_resolve_against_parameters_and_created_resources() -> None:
    template = load_template(ROOT / "template.yaml")
    resolver = Resolver(template=template, stack_name="s1", parameter_overrides={"AutoJoin": "false"})
    resolver.refs["BridgeTable"] = "s1-BridgeTable"
    resolver.attrs[("MembershipQueue", "Arn")] = "arn:aws:sqs:us-east-1:123456789012:q"
    assert resolver.resolve({"Ref": "AutoJoin"}) == "false"
    assert resolver.resolve({"Ref": "HoldMinutes"}) == "30"
    assert resolver.resolve({"Fn::Sub": "${AWS::StackName}/keys/"}) == "s1/keys/"
    sub_with_variables = {"Fn::Sub": ["${X}-${AWS::Region}-${!Literal}", {"X": {"Ref": "BridgeTable"}}]}
    assert resolver.resolve(sub_with_variables) == "s1-BridgeTable-us-east-1-${Literal}"
    assert resolver.resolve({"Fn::Sub": "${MembershipQueue.Arn}!"}) == "arn:aws:sqs:us-east-1:123456789012:q!"
    assert resolver.resolve({"Fn::Join": [",", ["a", {"Ref": "AWS::Region"}]]}) == "a,us-east-1"
    assert resolver.resolve({"Fn::Select": [1, {"Fn::Split": [",", "x,y,z"]}]}) == "y"
    assert resolver.resolve({"a": {"Ref": "AWS::NoValue"}, "b": 1}) == {"b": 1}
    with pytest.raises(Unresolvable):
        resolver.resolve({"Ref": "LedgerTable"})  # not created, and no fallback given


def test_routes_match_like_http_api() -> None:
    patterns = [
        compile_route("GET", "/v1/customers/{customer_id}/loyalty"),
        compile_route("ANY", "/v1/customers/{customer_id}/loyalty"),
        compile_route("GET", "/v1/customers/me/loyalty"),
        compile_route("ANY", "/v1/{proxy+}"),
    ]
    found = match_route(patterns, "GET", "/v1/customers/me/loyalty")
    assert found is not None
    assert found[0].path == "/v1/customers/me/loyalty"
    found = match_route(patterns, "GET", "/v1/customers/c%2F1/loyalty")
    assert found is not None
    assert (found[0].method, found[1]) == ("GET", {"customer_id": "c/1"})
    found = match_route(patterns, "POST", "/v1/customers/c-1/loyalty")
    assert found is not None
    assert found[0].method == "ANY"
    found = match_route(patterns, "DELETE", "/v1/a/b/c")
    assert found is not None
    assert found[1] == {"proxy": "a/b/c"}
    assert match_route(patterns, "GET", "/v2/x") is None


def test_batch_failure_reports_are_read_like_lambda() -> None:
    ids = ["m1", "m2", "m3"]
    assert batch_failures({"batchItemFailures": []}, ids, report_failures=True) == set()
    assert batch_failures(None, ids, report_failures=True) == set()
    assert batch_failures({"batchItemFailures": [{"itemIdentifier": "m2"}]}, ids, report_failures=True) == {
        "m2"
    }
    # An unknown or empty identifier fails the whole batch.
    assert batch_failures(
        {"batchItemFailures": [{"itemIdentifier": "zz"}]}, ids, report_failures=True
    ) == set(ids)
    assert batch_failures({"batchItemFailures": [{"itemIdentifier": ""}]}, ids, report_failures=True) == set(
        ids
    )
    # Without ReportBatchItemFailures the response is ignored: the batch succeeded.
    assert (
        batch_failures({"batchItemFailures": [{"itemIdentifier": "m2"}]}, ids, report_failures=False) == set()
    )


def test_schedule_rates() -> None:
    assert schedule_interval("rate(5 minutes)") == 300
    assert schedule_interval("rate(1 hour)") == 3600
    assert schedule_interval("cron(0 12 * * ? *)") is None


def test_a_v2_response_without_status_code_is_a_json_200() -> None:
    response = http_api_response({"ok": True})
    assert (response.status, response.body) == (200, b'{"ok": true}')
    assert ("content-type", "application/json") in response.headers


def test_environment_mode() -> None:
    assert decide_mode({"A": {"X": "1"}, "B": {"X": "1"}}) == "shared"
    assert decide_mode({"A": {"X": "1"}, "B": {"X": "2"}}) == "isolated"


def test_isolated_mode_gives_each_function_its_own_environment(tmp_path: Path) -> None:
    code = tmp_path / "fn"
    code.mkdir()
    (code / "app.py").write_text(
        "import os\n\ndef handler(event, context):\n    return os.environ.get('SAMPLE_COLOUR')\n"
    )
    specs = {
        name: FunctionSpec(
            logical_id=name, code_uri=code, handler="app.handler", timeout=3, memory=128, properties={}
        )
        for name in ("Red", "Blue")
    }
    runtime = Runtime(specs, {"Red": {"SAMPLE_COLOUR": "red"}, "Blue": {"SAMPLE_COLOUR": "blue"}}, "t")
    assert runtime.mode == "isolated"
    runtime.start()
    try:
        assert runtime.invoke("Red", {}) == "red"
        assert runtime.invoke("Blue", {}) == "blue"
        assert "SAMPLE_COLOUR" not in os.environ
    finally:
        runtime.stop()


# A handler that counts its invocations in a module global and, when asked, waits at a
# gate the test opens. The gate is an ordinary import (shared by every container); what the
# handler returns shows which container (module) served the call.
_GATED_HANDLER = """
import bridge_test_gate as gate

served = 0


def handler(event, context):
    global served
    served += 1
    gate.ENTERED.release()
    if event.get("wait"):
        gate.OPEN.wait(10)
    return {"module": __name__, "served": served}
"""


@pytest.fixture
def gate() -> Iterator[types.ModuleType]:
    module = types.ModuleType("bridge_test_gate")
    module.OPEN = threading.Event()  # type: ignore[attr-defined]
    module.ENTERED = threading.Semaphore(0)  # type: ignore[attr-defined]
    sys.modules["bridge_test_gate"] = module
    yield module
    module.OPEN.set()  # type: ignore[attr-defined]
    del sys.modules["bridge_test_gate"]


@contextmanager
def _gated_runtime(tmp_path: Path, containers: int) -> Iterator[tuple[Runtime, ThreadPoolExecutor]]:
    """A started runtime of the gated function, and threads to invoke it from."""
    code = tmp_path / "fn"
    code.mkdir()
    (code / "app.py").write_text(_GATED_HANDLER)
    spec = FunctionSpec(
        logical_id="Gated", code_uri=code, handler="app.handler", timeout=3, memory=128, properties={}
    )
    runtime = Runtime({"Gated": spec}, {"Gated": {}}, "t", containers=containers)
    runtime.start()
    try:
        with ThreadPoolExecutor(max_workers=containers + 1) as workers:
            yield runtime, workers
    finally:
        runtime.stop()


def test_busy_containers_scale_out_each_with_its_own_module_state(
    tmp_path: Path, gate: types.ModuleType
) -> None:
    with _gated_runtime(tmp_path, containers=3) as (runtime, workers):
        busy = [workers.submit(runtime.invoke, "Gated", {"wait": True}) for _ in range(3)]
        for _ in range(3):
            assert gate.ENTERED.acquire(timeout=10)  # all three inside a handler at once
        gate.OPEN.set()
        answers = [future.result(timeout=10) for future in busy]
        again = workers.submit(runtime.invoke, "Gated", {}).result(timeout=10)
        assert len(runtime.containers["Gated"].warm) == 3
        assert len({answer["module"] for answer in answers}) == 3  # three module namespaces
        assert all(answer["served"] == 1 for answer in answers)  # none saw another's global
        assert again["served"] == 2  # a warm container again, not a fourth
        assert runtime.containers["Gated"].invocations == 4


def test_an_invocation_waits_for_a_container_once_all_are_busy(
    tmp_path: Path, gate: types.ModuleType
) -> None:
    with _gated_runtime(tmp_path, containers=1) as (runtime, workers):
        blocking = workers.submit(runtime.invoke, "Gated", {"wait": True})
        assert gate.ENTERED.acquire(timeout=10)
        queued = workers.submit(runtime.invoke, "Gated", {})
        assert not gate.ENTERED.acquire(timeout=0.3)  # not started: the one container is busy
        gate.OPEN.set()
        first = blocking.result(timeout=10)
        assert queued.result(timeout=10) == {"module": first["module"], "served": 2}
        assert len(runtime.containers["Gated"].warm) == 1

"""The local stack in this process, instrumented: every AWS call the functions make is
counted through botocore's event system (``before-call`` / ``after-call`` on the session
``loyalty_bridge.wiring`` builds every client from), every Lambda invocation is timed, and
faults can be injected into those AWS calls (the soak).

Only the functions' own calls are seen: the local stack's pollers (standing in for
Lambda's SQS event source mapping) use their own clients.
"""

from __future__ import annotations

import math
import random
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError

from bridge_local.client import SignedClient
from bridge_local.stack import LocalStack

_READS_ONE = {"GetItem"}
_WRITES_ONE = {"PutItem", "UpdateItem", "DeleteItem"}
_TRANSACT_KINDS = ("Put", "Update", "Delete", "ConditionCheck")


def _item_bytes(item: Mapping[str, Any] | None) -> int:
    """DynamoDB item size: attribute names plus values (close enough for request units)."""
    if not item:
        return 0
    return sum(len(name) + _value_bytes(value) for name, value in item.items())


def _value_bytes(value: Any) -> int:
    """A value's size, typed ({"S": ...}, as the low-level client sends and answers) or not."""
    if isinstance(value, Mapping) and len(value) == 1:
        (kind, inner), *_ = value.items()
        if kind in {"S", "N", "B"}:
            return len(str(inner))
        if kind in {"M"}:
            return _item_bytes(inner)
        if kind in {"L"}:
            return sum(_value_bytes(v) for v in inner)
    return len(str(value))


@dataclass
class CallLog:
    """AWS calls by service.operation, plus the DynamoDB request units they consume."""

    calls: Counter[str] = field(default_factory=Counter)
    rru: float = 0.0
    wru: float = 0.0
    ses_emails: int = 0
    sqs_fifo: int = 0
    aws_ms: float = 0.0  # wall time inside AWS calls (provide-client-params to after-call)

    def minus(self, other: CallLog) -> CallLog:
        return CallLog(
            calls=self.calls - other.calls,
            rru=self.rru - other.rru,
            wru=self.wru - other.wru,
            ses_emails=self.ses_emails - other.ses_emails,
            sqs_fifo=self.sqs_fifo - other.sqs_fifo,
            aws_ms=self.aws_ms - other.aws_ms,
        )

    def copy(self) -> CallLog:
        return CallLog(Counter(self.calls), self.rru, self.wru, self.ses_emails, self.sqs_fifo, self.aws_ms)

    @property
    def total(self) -> int:
        return sum(self.calls.values())


class Faults:
    """Injected into the functions' AWS calls with probability ``rate`` each:
    - ``throttle``: the call is answered with a ThrottlingException before it is sent
      (botocore's retries never see it: the adapter gets the error at once);
    - ``lost_reply``: the call is sent and done, then a ReadTimeoutError replaces its answer
      (the worst case for exactly-once: it happened, the caller cannot know).
    Operations in ``only`` (e.g. {"dynamodb.PutItem"}) or all of them when empty."""

    def __init__(self, rate: float = 0.0, *, seed: int = 7, only: set[str] | None = None) -> None:
        self.rate = rate
        self.only = only or set()
        self.random = random.Random(seed)  # noqa: S311 (reproducible fault schedule, not crypto)
        self.injected: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.enabled = rate > 0

    def pick(self, name: str) -> str | None:
        if not self.enabled or (self.only and name not in self.only):
            return None
        with self.lock:
            roll = self.random.random()
            if roll >= self.rate:
                return None
            kind = "throttle" if roll < self.rate / 2 else "lost_reply"
            self.injected[f"{kind}:{name}"] += 1
            return kind


class OneEnvironmentStack(LocalStack):
    """The local stack with every function in one environment when their variables do not
    conflict (a variable only one function sets is given to all: the others never read it).

    The in-process runtime runs functions whose environments differ one at a time, resetting
    the core caches around every invocation; a warm Lambda keeps its clients and cached
    secrets, so counting AWS calls and timing invocations needs the shared mode."""

    def function_environments(self) -> dict[str, dict[str, str]]:
        environments = super().function_environments()
        merged: dict[str, str] = {}
        for environment in environments.values():
            for key, value in environment.items():
                if merged.setdefault(key, value) != value:
                    return environments  # a real conflict: keep them apart
        return {logical_id: dict(merged) for logical_id in environments}


class BenchStack:
    """``LocalStack`` in-process with counters. Use as a context manager."""

    def __init__(
        self,
        *,
        env_overrides: Mapping[str, str] | None = None,
        parameter_overrides: Mapping[str, str] | None = None,
        faults: Faults | None = None,
        state_dir: Path | None = None,
    ) -> None:
        self.state_dir = state_dir or Path(tempfile.mkdtemp(prefix="bridge-bench-"))
        self.stack = OneEnvironmentStack(
            port=0,
            state_dir=self.state_dir,
            env_overrides=env_overrides,
            parameter_overrides=parameter_overrides,
            visibility_seconds=1,
        )
        self.faults = faults or Faults()
        self.log = CallLog()
        self.invocations: dict[str, list[float]] = defaultdict(list)  # logical id -> ms
        self._lock = threading.Lock()
        self._pending_lost: threading.local = threading.local()
        self._in_call: threading.local = threading.local()
        # logical id -> ms spent inside AWS calls during each invocation (same order as
        # ``invocations``); exact when one invocation runs at a time (bench/own_time.py).
        self.aws_time: dict[str, list[float]] = defaultdict(list)

    # ------------------------------------------------------------ lifecycle

    def __enter__(self) -> BenchStack:
        self.stack.start()
        runtime = self.stack.runtime
        assert runtime is not None
        from loyalty_bridge.wiring import core as wiring

        # Every client a function builds comes from wiring's one boto3 session, and a client
        # copies the session's event handlers when it is created. The local runtime may
        # rebuild that session between invocations (functions with different environments
        # reset wiring's caches), so the hooks go on every session wiring hands out.
        build_session = wiring._boto_session
        self._restore = (wiring, build_session)

        def instrumented_session() -> Any:
            session = build_session()
            if not getattr(session, "_bench_hooks", False):
                session.events.register("provide-client-params", self._call_starts)
                session.events.register("before-parameter-build", self._api_params)
                session.events.register("before-call", self._before_call)
                session.events.register("after-call", self._after_call)
                session.events.register("after-call-error", self._after_call_error)
                session._bench_hooks = True
            return session

        wiring._boto_session = instrumented_session  # type: ignore[assignment]
        original = runtime.invoke

        def timed_invoke(logical_id: str, event: Any) -> Any:
            with self._lock:
                aws_before = self.log.aws_ms
            started = time.perf_counter()
            try:
                return original(logical_id, event)
            finally:
                elapsed = (time.perf_counter() - started) * 1000.0
                with self._lock:
                    self.invocations[logical_id].append(elapsed)
                    self.aws_time[logical_id].append(self.log.aws_ms - aws_before)

        runtime.invoke = timed_invoke  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        self.stack.stop()
        module, build_session = self._restore
        module._boto_session = build_session

    # ------------------------------------------------------------ clients and helpers

    @property
    def base_url(self) -> str:
        return self.stack.base_url

    def client(self, scope: str = "storefront", timeout: float = 60.0) -> SignedClient:
        key = self.stack.key(scope)
        return SignedClient(self.base_url, key_id=key.key_id, secret=key.secret, timeout=timeout)

    def drain(self, timeout: float = 120.0) -> None:
        self.stack.wait_until_drained(timeout)

    def aws(self, service: str) -> Any:
        """A client on the stack's moto that is neither counted nor faulted (audits)."""
        return self.stack.client(service)

    def snapshot(self) -> tuple[CallLog, dict[str, int]]:
        with self._lock:
            return self.log.copy(), {k: len(v) for k, v in self.invocations.items()}

    @contextmanager
    def faults_off(self) -> Any:
        enabled = self.faults.enabled
        self.faults.enabled = False
        try:
            yield
        finally:
            self.faults.enabled = enabled

    # ------------------------------------------------------------ botocore hooks

    def _call_starts(self, **_: Any) -> None:
        # The first event of a client method: from here to after-call is the AWS call as the
        # function sees it (botocore's validation, serialisation, signing, the round trip,
        # parsing). Returns None: the parameters stay as they are.
        self._in_call.started = time.perf_counter()

    def _api_params(self, params: Mapping[str, Any], **_: Any) -> None:
        # before-call sees the serialised request; the units come from the API parameters.
        self._in_call.params = params

    def _before_call(self, model: Any, **_: Any) -> Any:
        service = model.service_model.service_name
        name = f"{service}.{model.name}"
        params: Mapping[str, Any] = getattr(self._in_call, "params", None) or {}
        self._in_call.params = None
        with self._lock:
            self.log.calls[name] += 1
            if service == "dynamodb":
                self._count_write_units(model.name, params)
            elif service == "ses" and model.name in {"SendEmail", "SendRawEmail"}:
                self.log.ses_emails += 1
            elif service == "sqs" and str(params.get("QueueUrl", "")).endswith(".fifo"):
                self.log.sqs_fifo += 1
        self._in_call.consistent = bool(params.get("ConsistentRead"))
        fault = self.faults.pick(name)
        self._pending_lost.fault = fault == "lost_reply"
        if fault == "throttle":
            response = AWSResponse(url="", status_code=400, headers={}, raw=None)
            parsed = {
                "Error": {"Code": "ThrottlingException", "Message": "injected by the soak"},
                "ResponseMetadata": {"HTTPStatusCode": 400},
            }
            return response, parsed
        return None

    def _call_done(self) -> None:
        started = getattr(self._in_call, "started", None)
        if started is None:
            return
        self._in_call.started = None
        elapsed = (time.perf_counter() - started) * 1000.0
        with self._lock:
            self.log.aws_ms += elapsed

    def _after_call(self, model: Any, parsed: Mapping[str, Any], **_: Any) -> None:
        self._call_done()
        if model.service_model.service_name == "dynamodb":
            with self._lock:
                self._count_read_units(model.name, parsed, bool(getattr(self._in_call, "consistent", False)))
        if getattr(self._pending_lost, "fault", False):
            self._pending_lost.fault = False
            raise ReadTimeoutError(endpoint_url=f"injected-by-soak/{model.name}")

    def _after_call_error(self, **_: Any) -> None:
        self._call_done()  # the call raised (a transport error): its time still counts

    def _count_write_units(self, operation: str, params: Mapping[str, Any]) -> None:
        # One write unit per 1 KB written (an update or delete: at least one); a transaction
        # costs two per item, condition checks included. Sizes of updated items are not
        # known from the request, so updates count their minimum.
        if operation in _WRITES_ONE:
            self.log.wru += _kb_units(params.get("Item"), 1024)
        elif operation == "TransactWriteItems":
            for entry in params.get("TransactItems", []):
                for kind in _TRANSACT_KINDS:
                    if kind in entry:
                        self.log.wru += 2 * _kb_units(entry[kind].get("Item"), 1024)
        elif operation == "BatchWriteItem":
            for requests in params.get("RequestItems", {}).values():
                for request in requests:
                    put = request.get("PutRequest") or {}
                    self.log.wru += _kb_units(put.get("Item"), 1024)

    def _count_read_units(self, operation: str, parsed: Mapping[str, Any], consistent: bool) -> None:
        # A strongly consistent read costs one unit per 4 KB, an eventually consistent one
        # half of that; a transactional read two.
        per_4kb = 1.0 if consistent else 0.5
        if operation in _READS_ONE:
            self.log.rru += per_4kb * _kb_units(parsed.get("Item"), 4096)
        elif operation in {"Query", "Scan"}:
            size = sum(_item_bytes(item) for item in parsed.get("Items", []))
            self.log.rru += per_4kb * max(1, math.ceil(size / 4096))
        elif operation == "TransactGetItems":
            for answer in parsed.get("Responses", []):
                self.log.rru += 2 * _kb_units(answer.get("Item"), 4096)
        elif operation == "BatchGetItem":
            for rows in parsed.get("Responses", {}).values():
                self.log.rru += sum(per_4kb * _kb_units(row, 4096) for row in rows)


def _kb_units(item: Mapping[str, Any] | None, unit: int) -> int:
    return max(1, math.ceil(_item_bytes(item) / unit))


def measure(
    bench: BenchStack, action: Callable[[], Any], *, drain: bool = True
) -> tuple[Any, CallLog, dict[str, int]]:
    """Run one business operation (and, with ``drain``, everything it queued) and return
    what it cost: the AWS calls and the invocations per function."""
    before_log, before_inv = bench.snapshot()
    result = action()
    if drain:
        bench.drain()
    after_log, after_inv = bench.snapshot()
    invocations = {k: v - before_inv.get(k, 0) for k, v in after_inv.items() if v - before_inv.get(k, 0)}
    return result, after_log.minus(before_log), invocations


@contextmanager
def output_to(path: Path) -> Any:
    """Send this process's stdout and stderr (the functions' JSON logs, EMF metrics and the
    local stack's tracebacks of injected failures) to ``path`` while the stack runs; yields
    a text stream on the real stderr for progress lines."""
    import os
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    console = os.fdopen(os.dup(saved_err), "w", buffering=1)
    with path.open("ab") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield console
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved_out, 1)
            os.dup2(saved_err, 2)
            os.close(saved_out)
            os.close(saved_err)
            console.close()

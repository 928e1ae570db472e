"""An in-process Lambda runtime: load each function's handler from CodeUri + Handler and
invoke it with its template environment and a LambdaContext-shaped object.

Environment policy (all functions share one process):
- When every function resolves to the same environment (today's template: everything
  comes from Globals), that environment is applied to ``os.environ`` once, before any
  handler module is imported, and functions run concurrently (``shared`` mode).
- When environments differ, every invocation runs under one process-wide lock with its
  own environment applied and the core package's cached settings/clients reset before
  and after (``isolated`` mode): slower, but never reads another function's settings.
Either way one function has one warm "container" (its module), and that container runs
one invocation at a time, as on Lambda (Powertools resolvers keep per-request state).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from bridge_local.template import ACCOUNT_ID, REGION, FunctionSpec

log = logging.getLogger("bridge_local")


@dataclass
class LambdaContext:
    """The attributes of the Python runtime's context object that code and Powertools read."""

    function_name: str
    memory_limit_in_mb: int
    timeout_seconds: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    identity: Any = None
    client_context: Any = None
    _deadline: float = 0.0

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = f"local/[$LATEST]{uuid.uuid4().hex}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class FunctionLoadError(RuntimeError):
    pass


@dataclass
class Container:
    spec: FunctionSpec
    env: dict[str, str]
    handler: Callable[[Any, Any], Any] | None = None
    load_error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    invocations: int = 0


def decide_mode(envs: Mapping[str, Mapping[str, str]]) -> str:
    """``shared`` when every function has the same environment, else ``isolated``."""
    distinct = {tuple(sorted(env.items())) for env in envs.values()}
    return "shared" if len(distinct) <= 1 else "isolated"


def _reset_core_caches() -> None:
    wiring = sys.modules.get("loyalty_bridge.wiring")
    reset = getattr(wiring, "reset", None)
    if callable(reset):
        reset()


@contextmanager
def _applied(env: Mapping[str, str]) -> Any:
    previous = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class Runtime:
    def __init__(
        self, specs: Mapping[str, FunctionSpec], envs: Mapping[str, dict[str, str]], stack_name: str
    ):
        self.mode = decide_mode(envs)
        self.stack_name = stack_name
        self.containers = {lid: Container(spec=spec, env=dict(envs[lid])) for lid, spec in specs.items()}
        self._global_lock = threading.RLock()
        self._previous_env: dict[str, str | None] = {}
        self._inflight = 0
        self._inflight_lock = threading.Lock()

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        if self.mode == "shared" and self.containers:
            env = next(iter(self.containers.values())).env
            self._previous_env = {key: os.environ.get(key) for key in env}
            os.environ.update(env)
            _reset_core_caches()
        for container in self.containers.values():
            self._load(container)

    def stop(self) -> None:
        for key, value in self._previous_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._previous_env = {}
        _reset_core_caches()

    def _load(self, container: Container) -> None:
        spec = container.spec
        module_name = f"bridge_fn_{spec.logical_id}"
        path = spec.module_file
        try:
            if not path.is_file():
                raise FunctionLoadError(f"{path} does not exist")
            module_spec = importlib.util.spec_from_file_location(module_name, path)
            if module_spec is None or module_spec.loader is None:
                raise FunctionLoadError(f"cannot load {path}")
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[module_name] = module
            ctx = _applied(container.env) if self.mode == "isolated" else _noop()
            with self._global_lock, ctx:
                module_spec.loader.exec_module(module)
            handler = getattr(module, spec.handler_attr, None)
            if not callable(handler):
                raise FunctionLoadError(f"{path} has no callable {spec.handler_attr}")
            container.handler = handler
            container.load_error = None
        except Exception as exc:
            sys.modules.pop(module_name, None)
            container.load_error = f"{type(exc).__name__}: {exc}"
            log.error("function %s failed to load: %s", spec.logical_id, container.load_error)

    def reload(self, logical_id: str) -> None:
        self._load(self.containers[logical_id])

    # ------------------------------------------------------------ invoke

    @property
    def inflight(self) -> int:
        return self._inflight

    def function_name(self, logical_id: str) -> str:
        return f"{self.stack_name}-{logical_id}"

    def invoke(self, logical_id: str, event: Any) -> Any:
        """Run one invocation; exceptions propagate as the function's error."""
        container = self.containers[logical_id]
        if container.handler is None:
            # Retry the import: the developer may have just written the function.
            self._load(container)
        if container.handler is None:
            raise FunctionLoadError(container.load_error or "not loaded")
        context = LambdaContext(
            function_name=self.function_name(logical_id),
            memory_limit_in_mb=container.spec.memory,
            timeout_seconds=container.spec.timeout,
        )
        with self._inflight_lock:
            self._inflight += 1
        started = time.monotonic()
        try:
            if self.mode == "isolated":
                with self._global_lock, container.lock, _applied(container.env):
                    _reset_core_caches()
                    try:
                        return container.handler(event, context)
                    finally:
                        _reset_core_caches()
            with container.lock:
                return container.handler(event, context)
        finally:
            container.invocations += 1
            elapsed = time.monotonic() - started
            with self._inflight_lock:
                self._inflight -= 1
            if elapsed > container.spec.timeout:
                log.warning(
                    "%s ran %.1fs, over its %ss timeout (Lambda would have stopped it)",
                    logical_id,
                    elapsed,
                    container.spec.timeout,
                )


@contextmanager
def _noop() -> Any:
    yield

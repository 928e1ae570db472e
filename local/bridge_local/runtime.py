"""An in-process Lambda runtime: load each function's handler from CodeUri + Handler and
invoke it with its template environment and a LambdaContext-shaped object.

Scaling out, as Lambda does: a function has up to ``containers`` warm containers (default
4, ``bridge-local --containers N``). An invocation takes an idle one; when all are busy and
there are fewer than ``containers``, a new one starts (a cold start: its own import of the
handler module); else it waits for one to free up. Each container runs one invocation at a
time (Powertools resolvers keep per-request state) and has its own module state: a fresh
import of ``functions/<name>/app.py`` under its own module name, so its resolver, its
``Services`` holder and every global of the handler module are its own. Containers are
separate module namespaces in this process, not subprocesses: the bench and the soak
count, time and fault the functions' AWS calls through botocore hooks in this process, and
48 interpreters (12 functions x 4) would not fit two shared cores. What they do share is
the core package's process-wide caches (boto3 clients, which are thread-safe, the settings
of the one environment, cached signing keys and program), i.e. what a warm container
would hold anyway.

Environment policy (all functions share one process):
- When every function resolves to the same environment (today's template: everything
  comes from Globals), that environment is applied to ``os.environ`` once, before any
  handler module is imported, and functions run concurrently (``shared`` mode).
- When environments differ, every invocation runs under one process-wide lock with its
  own environment applied and the core package's cached settings/clients reset before
  and after (``isolated`` mode): slower, but never reads another function's settings.
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
    """One warm execution environment of a function: its own handler module."""

    index: int
    handler: Callable[[Any, Any], Any]
    invocations: int = 0


DEFAULT_CONTAINERS = 4


@dataclass
class FunctionPool:
    """A function's warm containers (at most ``limit``), handed out one invocation each."""

    spec: FunctionSpec
    env: dict[str, str]
    limit: int = 1
    load_error: str | None = None
    warm: list[Container] = field(default_factory=list)
    idle: list[Container] = field(default_factory=list)
    starting: int = 0
    cond: threading.Condition = field(default_factory=threading.Condition)
    invocations: int = 0

    @property
    def handler(self) -> Callable[[Any, Any], Any] | None:
        """The first container's handler (None until one loaded)."""
        return self.warm[0].handler if self.warm else None


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
        self,
        specs: Mapping[str, FunctionSpec],
        envs: Mapping[str, dict[str, str]],
        stack_name: str,
        *,
        containers: int = DEFAULT_CONTAINERS,
    ):
        if containers < 1:
            raise ValueError("containers must be at least 1")
        self.mode = decide_mode(envs)
        self.stack_name = stack_name
        # Functions with different environments run one at a time anyway (isolated mode).
        self.containers_per_function = containers if self.mode == "shared" else 1
        self.containers = {
            lid: FunctionPool(spec=spec, env=dict(envs[lid]), limit=self.containers_per_function)
            for lid, spec in specs.items()
        }
        self._global_lock = threading.RLock()
        self._previous_env: dict[str, str | None] = {}
        self._inflight = 0
        self._inflight_lock = threading.Lock()
        self._loads = 0

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        if self.mode == "shared" and self.containers:
            env = next(iter(self.containers.values())).env
            self._previous_env = {key: os.environ.get(key) for key in env}
            os.environ.update(env)
            _reset_core_caches()
        for pool in self.containers.values():
            container = self._load(pool)  # one warm container each: load errors show at start
            if container is not None:
                with pool.cond:
                    pool.idle.append(container)

    def stop(self) -> None:
        for key, value in self._previous_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._previous_env = {}
        _reset_core_caches()

    def _load(self, pool: FunctionPool) -> Container | None:
        """A new container: a fresh import of the handler module under its own name."""
        spec = pool.spec
        with self._global_lock:
            self._loads += 1
            index = len(pool.warm)
            module_name = f"bridge_fn_{spec.logical_id}_{self._loads}"
        path = spec.module_file
        try:
            if not path.is_file():
                raise FunctionLoadError(f"{path} does not exist")
            module_spec = importlib.util.spec_from_file_location(module_name, path)
            if module_spec is None or module_spec.loader is None:
                raise FunctionLoadError(f"cannot load {path}")
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[module_name] = module
            ctx = _applied(pool.env) if self.mode == "isolated" else _noop()
            with self._global_lock, ctx:
                module_spec.loader.exec_module(module)
            handler = getattr(module, spec.handler_attr, None)
            if not callable(handler):
                raise FunctionLoadError(f"{path} has no callable {spec.handler_attr}")
        except Exception as exc:
            sys.modules.pop(module_name, None)
            pool.load_error = f"{type(exc).__name__}: {exc}"
            log.error("function %s failed to load: %s", spec.logical_id, pool.load_error)
            return None
        pool.load_error = None
        container = Container(index=index, handler=handler)
        with pool.cond:
            pool.warm.append(container)
        return container

    def reload(self, logical_id: str) -> None:
        """Drop the function's containers and start one afresh (the code changed)."""
        pool = self.containers[logical_id]
        with pool.cond:
            pool.warm.clear()
            pool.idle.clear()
        container = self._load(pool)
        if container is not None:
            with pool.cond:
                pool.idle.append(container)
                pool.cond.notify()

    # ------------------------------------------------------------ invoke

    @property
    def inflight(self) -> int:
        return self._inflight

    def function_name(self, logical_id: str) -> str:
        return f"{self.stack_name}-{logical_id}"

    def _acquire(self, pool: FunctionPool) -> Container:
        """An idle container; a new one while under the limit; else wait for one."""
        with pool.cond:
            while True:
                if pool.idle:
                    return pool.idle.pop()
                if len(pool.warm) + pool.starting < pool.limit:
                    pool.starting += 1
                    break
                pool.cond.wait()
        try:
            container = self._load(pool)  # a cold start, as Lambda's scale-out has
        finally:
            with pool.cond:
                pool.starting -= 1
                pool.cond.notify_all()
        if container is None:
            raise FunctionLoadError(pool.load_error or "not loaded")
        return container

    def _release(self, pool: FunctionPool, container: Container) -> None:
        with pool.cond:
            if container in pool.warm:  # not dropped by a reload meanwhile
                pool.idle.append(container)
            pool.cond.notify()

    def invoke(self, logical_id: str, event: Any) -> Any:
        """Run one invocation; exceptions propagate as the function's error."""
        pool = self.containers[logical_id]
        container = self._acquire(pool)
        context = LambdaContext(
            function_name=self.function_name(logical_id),
            memory_limit_in_mb=pool.spec.memory,
            timeout_seconds=pool.spec.timeout,
        )
        with self._inflight_lock:
            self._inflight += 1
        started = time.monotonic()
        try:
            if self.mode == "isolated":
                with self._global_lock, _applied(pool.env):
                    _reset_core_caches()
                    try:
                        return container.handler(event, context)
                    finally:
                        _reset_core_caches()
            return container.handler(event, context)
        finally:
            container.invocations += 1
            elapsed = time.monotonic() - started
            with self._inflight_lock:
                self._inflight -= 1
                pool.invocations += 1
            self._release(pool, container)
            if elapsed > pool.spec.timeout:
                log.warning(
                    "%s ran %.1fs, over its %ss timeout (Lambda would have stopped it)",
                    logical_id,
                    elapsed,
                    pool.spec.timeout,
                )


@contextmanager
def _noop() -> Any:
    yield

"""The whole system on 127.0.0.1: moto + resources from template.yaml + the HTTP API gateway +
SQS pollers + schedules + mail/SMS capture.

``LocalStack`` runs in the current process and owns its environment while started (it
applies the functions' environment to ``os.environ``; ``stop()`` restores it).
``LocalStackProcess`` runs the same thing as a child process (``python -m bridge_local``):
what tests use, so background workers never share a process with the test code.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx

from bridge_local.capture import Capture
from bridge_local.events import HttpResponse
from bridge_local.gateway import CONTROL_PREFIX, Gateway, json_response
from bridge_local.moto_server import MotoProcess
from bridge_local.pages import PagesMount
from bridge_local.pollers import ScheduleRunner, SqsPoller
from bridge_local.resources import (
    DEV_ADMIN_SECRET,
    DEV_SECRET,
    FAKE_ACCESS_KEY,
    FAKE_SECRET_KEY,
    Provisioned,
    SigningKey,
    aws_client,
    provision,
)
from bridge_local.runtime import DEFAULT_CONTAINERS, Runtime
from bridge_local.template import ACCOUNT_ID, DEFAULT_TEMPLATE, PROJECT_ROOT, load_template

log = logging.getLogger("bridge_local")

# Parameters that differ locally from the template defaults (a deployed stage is "prod").
LOCAL_PARAMETERS = {"Stage": "local"}


def _int_env(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


def _float_env(name: str, default: float) -> float:
    value = os.environ.get(name, "")
    return float(value) if value.strip() else default


def signing_keys_from_env() -> list[SigningKey]:
    return [
        SigningKey("local", os.environ.get("BRIDGE_LOCAL_SECRET") or DEV_SECRET, "storefront"),
        SigningKey("local-admin", os.environ.get("BRIDGE_LOCAL_ADMIN_SECRET") or DEV_ADMIN_SECRET, "admin"),
    ]


def aws_environment(moto_url: str, region: str) -> dict[str, str]:
    """What every function's environment adds to its template variables locally: moto."""
    return {
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_KEY,
        "AWS_SESSION_TOKEN": "testing",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }


class DrainTimeout(TimeoutError):
    pass


class LocalStack:
    def __init__(
        self,
        *,
        template: Path | str = DEFAULT_TEMPLATE,
        host: str = "127.0.0.1",
        port: int = 3000,
        moto_port: int = 0,
        moto_url: str | None = None,
        state_dir: Path | str = PROJECT_ROOT / ".local",
        stack_name: str = "loyalty-bridge",
        region: str = "us-east-1",
        parameter_overrides: Mapping[str, str] | None = None,
        env_overrides: Mapping[str, str] | None = None,
        visibility_seconds: int | None = None,
        schedule_speedup: float | None = None,
        signing_keys: list[SigningKey] | None = None,
        secret_values: Mapping[str, Mapping[str, str]] | None = None,
        run_pollers: bool = True,
        run_schedules: bool = True,
        containers: int | None = None,
    ) -> None:
        self.template_path = Path(template)
        self.host = host
        self.port = port
        self.moto_port = moto_port
        self.moto_url = moto_url
        self.state_dir = Path(state_dir)
        self.stack_name = stack_name
        self.region = region
        self.parameter_overrides = {**LOCAL_PARAMETERS, **(parameter_overrides or {})}
        self.env_overrides = dict(env_overrides or {})
        # Secret values by logical id, put before any function runs (e.g. the platform's key).
        self.secret_values = {lid: dict(value) for lid, value in (secret_values or {}).items()}
        self.visibility_seconds = (
            visibility_seconds
            if visibility_seconds is not None
            else _int_env("BRIDGE_LOCAL_VISIBILITY_SECONDS", 2)
        )
        self.schedule_speedup = (
            schedule_speedup
            if schedule_speedup is not None
            else _float_env("BRIDGE_LOCAL_SCHEDULE_SPEEDUP", 1.0)
        )
        self.keys = signing_keys if signing_keys is not None else signing_keys_from_env()
        self.run_pollers = run_pollers
        # Warm containers per function (Lambda's scale-out), and SQS batches in flight per
        # event source mapping (each a concurrent invocation).
        self.containers = (
            containers if containers is not None else _int_env("BRIDGE_LOCAL_CONTAINERS", DEFAULT_CONTAINERS)
        )
        self.run_schedules = run_schedules
        self._stop = threading.Event()
        self._moto: MotoProcess | None = None
        self.provisioned: Provisioned | None = None
        self.runtime: Runtime | None = None
        self.gateway: Gateway | None = None
        self.pollers: list[SqsPoller] = []
        self.schedules: list[ScheduleRunner] = []
        # The mail/SMS capture: in moto's process when the stack starts moto, else here.
        self.capture: Capture | MotoProcess | None = None
        self.pages: PagesMount | None = None

    # ------------------------------------------------------------ properties

    @property
    def base_url(self) -> str:
        assert self.gateway is not None, "start() first"
        return self.gateway.base_url

    @property
    def mail_dir(self) -> Path:
        return self.state_dir / "mail"

    @property
    def sms_dir(self) -> Path:
        return self.state_dir / "sms"

    def key(self, scope: str = "storefront") -> SigningKey:
        return next(k for k in self.keys if k.scope == scope)

    def client(self, service: str) -> Any:
        assert self.moto_url is not None, "start() first"
        return aws_client(service, self.moto_url, self.region)

    # ------------------------------------------------------------ lifecycle

    def _start_moto(self) -> None:
        self._moto = MotoProcess(self.state_dir, self.region, port=self.moto_port)
        self.moto_url = self._moto.start()

    def function_environments(self) -> dict[str, dict[str, str]]:
        assert self.provisioned is not None, "start() first"
        assert self.moto_url is not None, "start() first"
        runtime_env = aws_environment(self.moto_url, self.region)
        resolver = self.provisioned.resolver
        return {
            lid: {**resolver.environment(spec), **runtime_env, **self.env_overrides}
            for lid, spec in resolver.template.functions.items()
        }

    def start(self) -> LocalStack:
        template = load_template(self.template_path)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self.moto_url is None:
            self._start_moto()
        assert self.moto_url is not None
        self.provisioned = provision(
            template,
            self.moto_url,
            stack_name=self.stack_name,
            region=self.region,
            parameter_overrides=self.parameter_overrides,
            signing_keys=self.keys,
        )
        for lid, value in self.secret_values.items():
            self.provisioned.client("secretsmanager").put_secret_value(
                SecretId=self.provisioned.secrets[lid], SecretString=json.dumps(value)
            )
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
            os.environ.pop(name, None)
        self.runtime = Runtime(
            template.functions, self.function_environments(), self.stack_name, containers=self.containers
        )
        self.runtime.start()
        self.gateway = Gateway(template, self.runtime, host=self.host, port=self.port, control=self._control)
        self._mount_pages(self.gateway)
        self.gateway.start()
        if isinstance(self._moto, MotoProcess):
            self.capture = self._moto
        else:  # moto at a given URL, served in this process (tests)
            self.capture = Capture(self.state_dir, account_id=ACCOUNT_ID, region=self.region, stop=self._stop)
            self.capture.start()
        if self.run_pollers:
            for source in template.sqs_sources:
                if not source.enabled:
                    continue
                poller = SqsPoller(
                    source,
                    self.provisioned.queues[source.queue],
                    self.runtime,
                    self.provisioned,
                    visibility_seconds=self.visibility_seconds,
                    stop=self._stop,
                    concurrency=self.runtime.containers_per_function,
                )
                poller.start()
                self.pollers.append(poller)
        for schedule in template.schedules:
            runner = ScheduleRunner(schedule, self.runtime, speedup=self.schedule_speedup, stop=self._stop)
            self.schedules.append(runner)
            if self.run_schedules and schedule.enabled:
                runner.start()
        return self

    def _mount_pages(self, gateway: Gateway) -> None:
        """/demo/, /admin/ and /docs beside the API (bridge_local.pages): local only."""
        shop, admin = self.key("storefront"), self.key("admin")
        self.pages = PagesMount(
            gateway.base_url,
            storefront_key=(shop.key_id, shop.secret),
            admin_key=(admin.key_id, admin.secret),
            state_dir=self.state_dir,
        )
        gateway.mounts.append(self.pages)

    def stop(self) -> None:
        self._stop.set()
        if self.gateway is not None:
            self.gateway.stop()
        if self.pages is not None:
            self.pages.close()
        # Workers finish the batch in hand; an idle poller waiting in a long poll is a
        # daemon thread that exits when its receive returns: not waited for.
        deadline = time.monotonic() + STOP_SECONDS
        workers: list[SqsPoller | ScheduleRunner] = [*self.pollers, *self.schedules]
        for worker in workers:
            if worker.busy:
                worker.join(max(0.0, deadline - time.monotonic()))
        if self.capture is not None:
            self.capture.collect()  # whatever was sent during the last moments
        if self.runtime is not None:
            self.runtime.stop()
        if self._moto is not None:
            self._moto.stop()
            self._moto = None

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ status and drain

    def consumed_queue_depths(self) -> dict[str, int]:
        """Messages (visible, in flight or delayed) in every queue that has a consumer."""
        assert self.provisioned is not None
        sqs = self.provisioned.client("sqs")
        depths: dict[str, int] = {}
        for lid in sorted({poller.source.queue for poller in self.pollers}):
            attributes = sqs.get_queue_attributes(
                QueueUrl=self.provisioned.queues[lid].url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                ],
            )["Attributes"]
            depths[lid] = sum(int(v) for v in attributes.values())
        return depths

    def is_idle(self) -> bool:
        assert self.runtime is not None
        if self.runtime.inflight or any(p.busy for p in self.pollers) or any(s.busy for s in self.schedules):
            return False
        return not any(self.consumed_queue_depths().values())

    def wait_until_drained(self, timeout: float = 60.0) -> None:
        """Until every consumed queue is empty and nothing runs (checked twice in a row)."""
        deadline = time.monotonic() + timeout
        quiet = 0
        while quiet < 2:
            if time.monotonic() > deadline:
                raise DrainTimeout(f"not drained after {timeout}s: {self.consumed_queue_depths()}")
            quiet = quiet + 1 if self.is_idle() else 0
            time.sleep(0.1)
        if self.capture is not None:
            self.capture.collect()

    def status(self) -> dict[str, Any]:
        assert self.provisioned is not None, "start() first"
        assert self.runtime is not None, "start() first"
        assert self.gateway is not None, "start() first"
        return {
            "base_url": self.base_url,
            "moto_url": self.moto_url,
            "stack_name": self.stack_name,
            "region": self.region,
            "env_mode": self.runtime.mode,
            "containers_per_function": self.runtime.containers_per_function,
            "functions": {
                lid: {
                    "name": c.spec.name,
                    "loaded": c.handler is not None,
                    "error": c.load_error,
                    "invocations": c.invocations,
                    "warm_containers": len(c.warm),
                }
                for lid, c in self.runtime.containers.items()
            },
            "routes": [
                {"route_key": r.route_key, "function": r.function, "authorizer": r.authorizer}
                for _, r in self.gateway.routes
            ],
            "pollers": [
                {
                    "function": p.source.function,
                    "event": p.source.event,
                    "queue": p.source.queue,
                    "queue_url": p.queue.url,
                    "batch_size": p.source.batch_size,
                    "report_failures": p.source.report_failures,
                    "alive": p.alive,
                    "concurrency": len(p.threads),
                }
                for p in self.pollers
            ],
            "schedules": [
                {
                    "function": s.source.function,
                    "expression": s.source.expression,
                    "interval_seconds": s.interval,
                    "runs": s.runs,
                }
                for s in self.schedules
            ],
            "tables": self.provisioned.tables,
            "queues": {lid: asdict(q) for lid, q in self.provisioned.queues.items()},
            "secrets": self.provisioned.secrets,
            "buckets": self.provisioned.buckets,
            "identities": self.provisioned.identities,
            "inflight": self.runtime.inflight,
            "queue_depths": self.consumed_queue_depths(),
            "keys": [asdict(k) for k in self.keys],
            "mail_dir": str(self.mail_dir),
            "sms_dir": str(self.sms_dir),
        }

    def _control(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> HttpResponse:
        action = path[len(CONTROL_PREFIX) :]
        try:
            if method == "GET" and action == "status":
                return json_response(200, self.status())
            if method == "POST" and action == "drain":
                timeout = float(query.get("timeout", ["60"])[0])
                try:
                    self.wait_until_drained(timeout)
                except DrainTimeout as exc:
                    return json_response(504, {"drained": False, "detail": str(exc)})
                return json_response(200, {"drained": True})
            if method == "POST" and action.startswith("invoke/"):
                assert self.runtime is not None
                name = unquote(action.removeprefix("invoke/"))
                spec = self.runtime_template_function(name)
                event = json.loads(body or b"{}")
                return json_response(200, self.runtime.invoke(spec, event))
            if method == "POST" and action == "schedules/run":
                results = [s.run_once() for s in self.schedules]
                return json_response(200, {"runs": len(results)})
        except KeyError as exc:
            return json_response(404, {"message": f"unknown function {exc}"})
        except Exception as exc:
            log.exception("control %s failed", action)
            return json_response(500, {"message": f"{type(exc).__name__}: {exc}"})
        return json_response(404, {"message": "Not Found"})

    def runtime_template_function(self, name: str) -> str:
        assert self.runtime is not None
        for lid, container in self.runtime.containers.items():
            if name in (lid, container.spec.name):
                return lid
        raise KeyError(name)


STOP_SECONDS = 10.0


# ---------------------------------------------------------------- child-process variant


class LocalStackProcess:
    """``python -m bridge_local`` as a child process, with the same helpers as LocalStack."""

    def __init__(
        self,
        *,
        template: Path | str = DEFAULT_TEMPLATE,
        port: int = 0,
        state_dir: Path | str | None = None,
        stack_name: str = "loyalty-bridge",
        parameter_overrides: Mapping[str, str] | None = None,
        env_overrides: Mapping[str, str] | None = None,
        visibility_seconds: int | None = None,
        schedule_speedup: float | None = None,
        startup_timeout: float = 90.0,
        extra_env: Mapping[str, str] | None = None,
        sample_program: bool = False,
        extra_args: Sequence[str] = (),
        containers: int | None = None,
    ) -> None:
        self.template = Path(template)
        # make run starts with the sample program; test stacks keep the template default.
        self.sample_program = sample_program
        self.port = port
        self.state_dir = Path(state_dir) if state_dir else Path(tempfile.mkdtemp(prefix="bridge-local-"))
        self.stack_name = stack_name
        self.parameter_overrides = dict(parameter_overrides or {})
        self.env_overrides = dict(env_overrides or {})
        self.visibility_seconds = visibility_seconds
        self.schedule_speedup = schedule_speedup
        self.startup_timeout = startup_timeout
        self.extra_env = dict(extra_env or {})
        self.extra_args = list(extra_args)  # more bridge-local options, e.g. ["--platform", "talon-one"]
        self.containers = containers
        self.info: dict[str, Any] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._http: httpx.Client | None = None

    @property
    def log_path(self) -> Path:
        return self.state_dir / "stack.log"

    @property
    def base_url(self) -> str:
        return str(self.info["base_url"])

    @property
    def moto_url(self) -> str:
        return str(self.info["moto_url"])

    @property
    def region(self) -> str:
        return str(self.info.get("region", "us-east-1"))

    @property
    def mail_dir(self) -> Path:
        return self.state_dir / "mail"

    @property
    def sms_dir(self) -> Path:
        return self.state_dir / "sms"

    @property
    def keys(self) -> list[SigningKey]:
        return [SigningKey(**k) for k in self.info["keys"]]

    @property
    def platform(self) -> dict[str, Any]:
        """``--platform`` as started: name, url, program_id, api_key, started_here."""
        platform: dict[str, Any] = self.info.get("platform") or {"name": "ledger"}
        return platform

    def key(self, scope: str = "storefront") -> SigningKey:
        return next(k for k in self.keys if k.scope == scope)

    def client(self, service: str) -> Any:
        return aws_client(service, self.moto_url, self.region)

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def start(self) -> LocalStackProcess:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        ready = self.state_dir / "ready.json"
        ready.unlink(missing_ok=True)
        command = [
            sys.executable,
            "-m",
            "bridge_local",
            "--port",
            str(self.port),
            "--template",
            str(self.template),
            "--state-dir",
            str(self.state_dir),
            "--stack-name",
            self.stack_name,
            "--ready-file",
            str(ready),
            "--no-banner",
            "--exit-with-parent",
            "--sample-program" if self.sample_program else "--no-sample-program",
        ]
        for key, value in self.parameter_overrides.items():
            command += ["--param", f"{key}={value}"]
        for key, value in self.env_overrides.items():
            command += ["--env", f"{key}={value}"]
        if self.visibility_seconds is not None:
            command += ["--visibility-seconds", str(self.visibility_seconds)]
        if self.schedule_speedup is not None:
            command += ["--schedule-speedup", str(self.schedule_speedup)]
        if self.containers is not None:
            command += ["--containers", str(self.containers)]
        command += self.extra_args
        env = {**os.environ, **self.extra_env, "PYTHONUNBUFFERED": "1"}
        with self.log_path.open("ab") as log_file:
            self._process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
                command, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )
        deadline = time.monotonic() + self.startup_timeout
        while not ready.exists():
            if self._process.poll() is not None:
                raise RuntimeError(f"local stack exited with {self._process.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"local stack not ready after {self.startup_timeout}s:\n{self.log_tail()}")
            time.sleep(0.05)
        self.info = json.loads(ready.read_text())
        self._http = httpx.Client(base_url=self.base_url, timeout=120)
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=5)
        self._process = None

    def __enter__(self) -> LocalStackProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _control(self) -> httpx.Client:
        assert self._http is not None, "start() first"
        return self._http

    def status(self) -> dict[str, Any]:
        response = self._control().get(f"{CONTROL_PREFIX}status")
        response.raise_for_status()
        document: dict[str, Any] = response.json()
        return document

    def wait_until_drained(self, timeout: float = 60.0) -> None:
        response = self._control().post(f"{CONTROL_PREFIX}drain", params={"timeout": str(timeout)})
        if response.status_code != 200:
            raise DrainTimeout(f"{response.json().get('detail')}\n{self.log_tail()}")

    def invoke(self, function: str, event: Any) -> Any:
        response = self._control().post(f"{CONTROL_PREFIX}invoke/{function}", content=json.dumps(event))
        response.raise_for_status()
        return response.json()

    def run_schedules(self) -> None:
        self._control().post(f"{CONTROL_PREFIX}schedules/run").raise_for_status()

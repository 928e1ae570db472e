"""Root fixtures shared by every area.

AWS in tests is moto only:
- ``moto_server`` (session): moto (``bridge_local.moto_server``) on a free port in this process; while it
  runs, AWS_ENDPOINT_URL points at it, with fake credentials and region us-east-1.
- ``aws_env``: the same environment for one test, core caches (wiring) reset around it.
- ``aws``: every table, queue and secret of template.yaml created in moto under a unique
  stack name, and the functions' environment (BRIDGE_TABLE, ..._QUEUE_URL, ...) exported.

The whole system over HTTP (acceptance tests):
- ``local_stack`` (session): ``python -m bridge_local`` in a child process on a free port,
  default settings; ``local_stack_factory(env={...})`` for other settings (one child per
  distinct set of overrides, kept for the session).
- ``signed_client`` / ``admin_client``: SignedClient with the stack's ``local`` /
  ``local-admin`` keys. ``mailbox`` / ``sms_outbox``: what the stack's functions sent.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from bridge_local.client import SignedClient
    from bridge_local.resources import Provisioned
    from bridge_local.stack import LocalStackProcess

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
WAIT_SECONDS = 30.0  # upper bound for anything asynchronous; never an assertion on speed


def _reset_core() -> None:
    try:
        from loyalty_bridge import wiring
    except ImportError:
        return
    wiring.reset()


# ---------------------------------------------------------------- moto


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """Endpoint URL of a session-wide moto server (exported as AWS_ENDPOINT_URL)."""
    from bridge_local.moto_server import MotoServer

    server = MotoServer()
    url = server.start()
    exported = {
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }
    previous = {key: os.environ.get(key) for key in exported}
    os.environ.update(exported)
    _reset_core()
    try:
        yield url
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        _reset_core()
        server.stop()


@pytest.fixture
def aws_env(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """This test talks to ``moto_server`` (fake credentials); core caches reset around it."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    _reset_core()
    yield moto_server
    _reset_core()


@pytest.fixture
def aws(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Provisioned]:
    """template.yaml's tables, queues and secrets in moto (fresh names for this test) and
    the environment the functions would get, so ``wiring`` builds real adapters on them.

    ``aws.tables["BridgeTable"]``, ``aws.queues["MembershipQueue"].url``,
    ``aws.secrets["PlatformSecret"]``, ``aws.client("sqs")``.
    """
    from bridge_local.resources import provision
    from bridge_local.stack import signing_keys_from_env
    from bridge_local.template import load_template

    template = load_template(ROOT / "template.yaml")
    stack_name = f"t{uuid.uuid4().hex[:10]}"
    provisioned = provision(
        template,
        aws_env,
        stack_name=stack_name,
        region=REGION,
        parameter_overrides={"Stage": "test"},
        signing_keys=signing_keys_from_env(),
    )
    any_function = next(iter(template.functions.values()))
    for key, value in provisioned.resolver.environment(any_function).items():
        monkeypatch.setenv(key, value)
    _reset_core()
    yield provisioned
    _reset_core()


# ---------------------------------------------------------------- the local stack


class _Stacks:
    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        self.running: dict[tuple[tuple[str, str], ...], LocalStackProcess] = {}

    def get(
        self, env: dict[str, str] | None = None, params: dict[str, str] | None = None
    ) -> LocalStackProcess:
        from bridge_local.stack import LocalStackProcess

        key = tuple(
            sorted(
                {
                    **{f"env:{k}": v for k, v in (env or {}).items()},
                    **{f"param:{k}": v for k, v in (params or {}).items()},
                }.items()
            )
        )
        if key not in self.running:
            stack = LocalStackProcess(
                port=0,
                state_dir=self.base_dir / f"stack{len(self.running)}",
                env_overrides=env,
                parameter_overrides=params,
                visibility_seconds=1,
            )
            self.running[key] = stack.start()
        return self.running[key]

    def stop_all(self) -> None:
        for stack in self.running.values():
            stack.stop()
        self.running.clear()


@pytest.fixture(scope="session")
def _local_stacks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Stacks]:
    stacks = _Stacks(tmp_path_factory.mktemp("local-stacks"))
    try:
        yield stacks
    finally:
        stacks.stop_all()


@pytest.fixture(scope="session")
def local_stack(_local_stacks: _Stacks) -> LocalStackProcess:
    """The whole API (template defaults) on a free port, for the session. Tests share it:
    use fresh customer ids / emails per test."""
    return _local_stacks.get()


@pytest.fixture(scope="session")
def local_stack_factory(_local_stacks: _Stacks) -> Callable[..., LocalStackProcess]:
    """``local_stack_factory(env={"AUTO_JOIN": "false"})`` or ``(params={"AutoJoin": "false"})``:
    a stack with other settings (started once per distinct overrides, shared afterwards)."""
    return _local_stacks.get


def _client_for(stack: LocalStackProcess, scope: str) -> SignedClient:
    from bridge_local.client import SignedClient

    key = stack.key(scope)
    return SignedClient(stack.base_url, key_id=key.key_id, secret=key.secret, timeout=60)


@pytest.fixture
def signed_client(local_stack: LocalStackProcess) -> Iterator[SignedClient]:
    with _client_for(local_stack, "storefront") as client:
        yield client


@pytest.fixture
def admin_client(local_stack: LocalStackProcess) -> Iterator[SignedClient]:
    with _client_for(local_stack, "admin") as client:
        yield client


@pytest.fixture
def client_for() -> Callable[[LocalStackProcess, str], SignedClient]:
    """``client_for(stack, "storefront" | "admin")`` for stacks from local_stack_factory
    (close it, or use it as a context manager)."""
    return _client_for


# ---------------------------------------------------------------- captured mail and SMS


def _wait_for[T](find: Callable[[], T | None], what: str, timeout: float) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = find()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout}s")
        time.sleep(0.1)


def _addresses(message: EmailMessage) -> set[str]:
    found: set[str] = set()
    for header in ("to", "cc", "bcc"):
        for _, address in email.utils.getaddresses(message.get_all(header, [])):
            found.add(address.lower())
    return found


class Mailbox:
    """Mail the stack's functions sent through SES (``.eml`` files, parsed)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def messages(self, to: str | None = None, subject: str | None = None) -> list[EmailMessage]:
        found = []
        for path in sorted(self.directory.glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            if to is not None and to.lower() not in _addresses(message):
                continue
            if subject is not None and subject.lower() not in str(message.get("subject", "")).lower():
                continue
            found.append(message)
        return found

    def wait_for(
        self, to: str | None = None, subject: str | None = None, timeout: float = WAIT_SECONDS
    ) -> EmailMessage:
        """The newest matching message, waiting for it to arrive."""
        return _wait_for(lambda: (self.messages(to, subject) or [None])[-1], f"mail to {to!r}", timeout)

    @staticmethod
    def text(message: EmailMessage) -> str:
        part = message.get_body(preferencelist=("plain", "html"))
        return str(part.get_content()) if part is not None else ""


class SmsOutbox:
    """Text messages the stack's functions sent through SNS (``.json`` files)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def messages(self, to: str | None = None) -> list[dict[str, Any]]:
        found = []
        for path in sorted(self.directory.glob("*.json")):
            document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            if to is None or document.get("to") == to:
                found.append(document)
        return found

    def wait_for(self, to: str | None = None, timeout: float = WAIT_SECONDS) -> dict[str, Any]:
        return _wait_for(lambda: (self.messages(to) or [None])[-1], f"SMS to {to!r}", timeout)


@pytest.fixture
def mailbox(local_stack: LocalStackProcess) -> Mailbox:
    return Mailbox(local_stack.mail_dir)


@pytest.fixture
def sms_outbox(local_stack: LocalStackProcess) -> SmsOutbox:
    return SmsOutbox(local_stack.sms_dir)


@pytest.fixture
def mailbox_for() -> Callable[[LocalStackProcess], Mailbox]:
    """``mailbox_for(stack)`` for stacks from local_stack_factory."""
    return lambda stack: Mailbox(stack.mail_dir)


@pytest.fixture
def sms_outbox_for() -> Callable[[LocalStackProcess], SmsOutbox]:
    return lambda stack: SmsOutbox(stack.sms_dir)

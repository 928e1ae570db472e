"""The soak's fake platform (tests/fake_rest_platform) in a process of its own.

In the soak's process the fake platform shared one interpreter lock with the storefront
threads, the local stack's functions, their queue pollers and moto; on two cores it
answered later than the REST adapter's read timeout, and every late answer was a retry
that added load (the 10,000-operation run never drained). Here it runs in a child
process (``spawn``), its ledger on the stack's moto, and the soak drives it through a pipe
with the methods it used on the server: ``url``, ``inject``, ``faults.pending``,
``faults.clear``, ``calls`` and ``stop``; ``bind`` gives it the ledger table once moto
has it.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
from multiprocessing.connection import Connection
from typing import Any

from tests.fake_rest_platform.faults import Fault
from tests.fake_rest_platform.server import RecordedRequest

_START_SECONDS = 60.0


class LateLedger:
    """The fake platform's delegate: the built-in ledger, bound once moto has its tables."""

    def __init__(self) -> None:
        self.target: Any = None

    def __getattr__(self, name: str) -> Any:
        if self.target is None:
            raise RuntimeError("the ledger is not bound yet")
        return getattr(self.target, name)


def _child(conn: Connection) -> None:
    """The child's loop: serve the fake platform, answer the parent's commands."""
    from loyalty_bridge.adapters.ledger import DynamoDbLedger
    from loyalty_bridge.settings import Settings
    from tests.contract.moto_ledger import dynamodb_client
    from tests.fake_rest_platform.server import FakePlatformServer

    late = LateLedger()
    server = FakePlatformServer(late).start()  # type: ignore[arg-type]
    conn.send(server.url)
    while True:
        command, *args = conn.recv()
        match command:
            case "bind":
                endpoint, table = args
                late.target = DynamoDbLedger(dynamodb_client(endpoint), table, Settings(ledger_table=table))
                conn.send(None)
            case "inject":
                server.inject(Fault.from_json(args[0]))
                conn.send(None)
            case "pending":
                conn.send(len(server.faults.pending()))
            case "clear":
                server.faults.clear()
                conn.send(None)
            case "calls":
                conn.send(server.calls())
            case "stop":
                server.stop()
                conn.send(None)
                return


class _Faults:
    def __init__(self, owner: PlatformProcess) -> None:
        self._owner = owner

    def pending(self) -> list[None]:
        """As many entries as faults wait in the plan (their details stay in the child)."""
        return [None] * int(self._owner.ask("pending"))

    def clear(self) -> None:
        self._owner.ask("clear")


class PlatformProcess:
    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child_conn = context.Pipe()
        self._process = context.Process(target=_child, args=(child_conn,), name="fake-platform", daemon=True)
        self._lock = threading.Lock()
        self.faults = _Faults(self)
        self.url = ""

    def start(self) -> PlatformProcess:
        self._process.start()
        if not self._conn.poll(_START_SECONDS):
            self._process.kill()
            raise RuntimeError("the fake platform process did not start")
        self.url = str(self._conn.recv())
        return self

    def ask(self, command: str, *args: Any) -> Any:
        with self._lock:
            self._conn.send((command, *args))
            return self._conn.recv()

    def bind(self, endpoint: str, table: str) -> None:
        self.ask("bind", endpoint, table)

    def inject(self, fault: Fault) -> None:
        self.ask("inject", fault.as_json())

    def calls(self) -> list[RecordedRequest]:
        calls: list[RecordedRequest] = self.ask("calls")
        return calls

    def stop(self) -> None:
        if self._process.is_alive():
            with contextlib.suppress(EOFError, OSError):  # the child has gone already
                self.ask("stop")
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()

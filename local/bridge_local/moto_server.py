"""moto's server on waitress: HTTP/1.1 with kept-alive connections, as AWS endpoints answer.

moto's ``ThreadedMotoServer`` serves its WSGI app with werkzeug's development server,
which sends ``Connection: close`` on every response and starts a thread per connection:
every AWS call of the local stack then opened a TCP connection and moto started a thread
for it (about a fifth of a call's CPU, and most of the local stack's throughput on two
cores). waitress (Pylons) keeps connections open and answers from a fixed pool of worker
threads; botocore's connection pool reuses them as it does against AWS.

The app is the one ``ThreadedMotoServer`` serves (``DomainDispatcherApplication`` over
``create_backend_app``). ``MotoServer`` runs it in this process, so moto's backends stay
readable in-process (tests); ``MotoProcess`` runs it with the mail capture in a child
process (the local stack, the benchmarks). A ``ReceiveMessage`` long poll holds a worker
for up to its wait, so the pool is sized for every poller of the local stack at once plus
the calls meanwhile.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

# Kept-alive connections per botocore client: up to 10 (its pool), for every client of
# every warm container: far above waitress's default of 100.
_CONNECTION_LIMIT = 2000
_THREADS = 64


class MotoServer:
    """``start()`` returns the endpoint URL; ``stop()`` closes every connection."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, threads: int = _THREADS) -> None:
        self.host = host
        self.port = port
        self.threads = threads
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://{self.host}:{self._server.effective_port}"

    def start(self) -> str:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from waitress.server import create_server

        # waitress warns when requests wait for a worker (long polls do, by design).
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)
        self._server = create_server(
            DomainDispatcherApplication(create_backend_app),
            host=self.host,
            port=self.port,
            threads=self.threads,
            connection_limit=_CONNECTION_LIMIT,
            channel_timeout=300,
            ident="moto",
        )
        self._thread = threading.Thread(target=self._server.run, name="moto", daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._server is None:
            return
        from waitress import wasyncore

        server, self._server = self._server, None
        server.close()  # the listening socket
        wasyncore.close_all(server._map)  # every kept-alive connection: the loop then ends
        server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None


# ---------------------------------------------------------------- in a process of its own

_START_SECONDS = 60.0


def _serve_in_child(
    conn: Connection, host: str, port: int, state_dir: str, region: str, log_level: int
) -> None:
    """The child: moto (with the local fixes) and the mail/SMS capture, which reads moto's
    backends, until the parent says ``stop`` or goes away."""
    from bridge_local import moto_fixes
    from bridge_local.capture import Capture
    from bridge_local.template import ACCOUNT_ID

    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    moto_fixes.apply()
    server = MotoServer(host, port)
    stop = threading.Event()
    conn.send(server.start())
    capture = Capture(Path(state_dir), account_id=ACCOUNT_ID, region=region, stop=stop)
    capture.start()
    try:
        while True:
            try:
                command = conn.recv()
            except EOFError:  # the parent has gone
                return
            if command == "collect":
                capture.collect()
                conn.send(None)
            elif command == "stop":
                return
    finally:
        stop.set()
        capture.collect()
        server.stop()
        with contextlib.suppress(OSError):
            conn.send("stopped")


class MotoProcess:
    """moto and the mail capture in a child process (``spawn``): the local stack's AWS then
    shares no interpreter lock with its functions, as AWS shares none with Lambda. What it
    changed is measured in docs/PERFORMANCE.md (issue 19, session of 2026-12-03): with 4
    storefront threads, 21.1 orders/s with moto in the stack's process on werkzeug, 22.0 in
    a child on werkzeug, 29.2 in a child on waitress (one experiment, side by side)."""

    def __init__(self, state_dir: Path, region: str, host: str = "127.0.0.1", port: int = 0) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child_conn = context.Pipe()
        level = logging.getLogger("bridge_local").getEffectiveLevel()
        self._process = context.Process(
            target=_serve_in_child,
            args=(child_conn, host, port, str(state_dir), region, level),
            name="moto",
            daemon=True,
        )
        self._lock = threading.Lock()
        self.url = ""

    def start(self) -> str:
        self._process.start()
        try:
            if not self._conn.poll(_START_SECONDS):
                raise RuntimeError(f"moto's process did not start within {_START_SECONDS:.0f} s")
            self.url = str(self._conn.recv())
        except EOFError:
            self._process.join(timeout=5)
            raise RuntimeError(
                f"moto's process exited before serving (exit code {self._process.exitcode}; a script"
                " that starts the local stack needs an `if __name__ == '__main__':` guard)"
            ) from None
        except RuntimeError:
            self._process.kill()
            raise
        return self.url

    def collect(self) -> None:
        """Write whatever mail and SMS moto holds now to the state directory."""
        with self._lock:
            self._conn.send("collect")
            self._conn.recv()

    def stop(self) -> None:
        if self._process.is_alive():
            with self._lock, contextlib.suppress(EOFError, OSError):
                self._conn.send("stop")
                if self._conn.poll(10):
                    self._conn.recv()
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(timeout=5)

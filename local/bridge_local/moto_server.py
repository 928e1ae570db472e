"""moto's server on waitress: HTTP/1.1 with kept-alive connections, as AWS endpoints answer.

moto's ``ThreadedMotoServer`` serves its WSGI app with werkzeug's development server,
which sends ``Connection: close`` on every response and starts a thread per connection:
every AWS call of the local stack then opened a TCP connection and moto started a thread
for it (about a fifth of a call's CPU, and most of the local stack's throughput on two
cores). waitress (Pylons) keeps connections open and answers from a fixed pool of worker
threads; botocore's connection pool reuses them as it does against AWS.

The app is the one ``ThreadedMotoServer`` serves (``DomainDispatcherApplication`` over
``create_backend_app``), in this process, so moto's backends stay readable in-process (the
mail capture, tests). A ``ReceiveMessage`` long poll holds a worker for up to its wait, so
the pool is sized for every poller of the local stack at once plus the calls meanwhile.
"""

from __future__ import annotations

import logging
import threading
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

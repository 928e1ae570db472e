"""A small HTTP API (API Gateway v2) emulator: every HttpApi route of template.yaml, its
Lambda authorizer, payload-2.0 events, and the gateway's own error replies.

Also serves a few local-only control endpoints under ``/__local/`` (status, drain,
invoke); no template route may start with that prefix (a test checks it).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs

from bridge_local.events import (
    BadLambdaResponse,
    HttpRequest,
    HttpResponse,
    RoutePattern,
    authorizer_decision,
    authorizer_event,
    compile_route,
    gateway_message,
    http_api_event,
    http_api_response,
    match_route,
    request_id,
)
from bridge_local.runtime import FunctionLoadError, Runtime
from bridge_local.template import Route, Template

log = logging.getLogger("bridge_local")

CONTROL_PREFIX = "/__local/"
MAX_PAYLOAD = 10 * 1024 * 1024  # HTTP API's own request limit


class Mount(Protocol):
    """Local-only pages served beside the API (bridge_local.pages): never template routes."""

    name: str

    def serves(self, raw_path: str) -> bool: ...

    def handle(self, request: HttpRequest) -> HttpResponse: ...


class Gateway:
    def __init__(
        self,
        template: Template,
        runtime: Runtime,
        *,
        host: str = "127.0.0.1",
        port: int = 3000,
        control: Callable[[str, str, dict[str, list[str]], bytes], HttpResponse] | None = None,
    ) -> None:
        self.template = template
        self.runtime = runtime
        self.control = control
        self.routes: list[tuple[RoutePattern, Route]] = [
            (compile_route(route.method, route.path), route) for route in template.routes
        ]
        self._patterns = [pattern for pattern, _ in self.routes]
        self._by_pattern = {id(pattern): route for pattern, route in self.routes}
        self.mounts: list[Mount] = []
        self.host = host
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, name="gateway", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    # ------------------------------------------------------------ request flow

    def handle(self, request: HttpRequest) -> HttpResponse:
        req_id = request_id()
        started = time.monotonic()
        response, target = self._route(request, req_id)
        response.headers.append(("apigw-requestid", req_id))
        log.info(
            "%s %s -> %s %s (%.0f ms)",
            request.method,
            request.raw_path,
            target,
            response.status,
            (time.monotonic() - started) * 1000,
        )
        return response

    def _route(self, request: HttpRequest, req_id: str) -> tuple[HttpResponse, str]:
        if request.raw_path.startswith(CONTROL_PREFIX) and self.control is not None:
            query = parse_qs(request.raw_query)
            return self.control(request.method, request.raw_path, query, request.body), "control"
        for mount in self.mounts:
            if mount.serves(request.raw_path):
                return mount.handle(request), mount.name
        found = match_route(self._patterns, request.method, request.raw_path)
        if found is None:
            return gateway_message(404, "Not Found"), "no route"
        pattern, path_parameters = found
        route = self._by_pattern[id(pattern)]
        if len(request.body) > MAX_PAYLOAD:
            return gateway_message(413, "Request Entity Too Large"), route.function
        authorizer_context: dict[str, Any] | None = None
        if route.authorizer is not None:
            denied, authorizer_context = self._authorize(request, route, path_parameters, req_id)
            if denied is not None:
                return denied, f"{route.function} (authorizer)"
        event = http_api_event(
            request,
            route_key=route.route_key,
            path_parameters=path_parameters,
            port=self.port,
            req_id=req_id,
            authorizer_context=authorizer_context,
            authorized=route.authorizer is not None,
        )
        try:
            result = self.runtime.invoke(route.function, event)
            return http_api_response(result), route.function
        except BadLambdaResponse as exc:
            log.error("%s returned a malformed response: %s", route.function, exc)
        except FunctionLoadError as exc:
            log.error("%s is not available: %s", route.function, exc)
        except Exception:
            log.exception("%s failed", route.function)
        return gateway_message(500, "Internal Server Error"), route.function

    def _authorize(
        self, request: HttpRequest, route: Route, path_parameters: dict[str, str], req_id: str
    ) -> tuple[HttpResponse | None, dict[str, Any] | None]:
        authorizer = self.template.authorizers.get(route.authorizer or "")
        if authorizer is None:
            log.error("route %s names unknown authorizer %s", route.route_key, route.authorizer)
            return gateway_message(500, "Internal Server Error"), None
        identity: list[str] = []
        if authorizer.identity_headers or authorizer.identity_query:
            query = parse_qs(request.raw_query)
            for header in authorizer.identity_headers:
                value = request.header(header)
                if not value:
                    return gateway_message(401, "Unauthorized"), None
                identity.append(value)
            for name in authorizer.identity_query:
                if name not in query:
                    return gateway_message(401, "Unauthorized"), None
                identity.append(",".join(query[name]))
        event = authorizer_event(
            request,
            route_key=route.route_key,
            method=request.method,
            path_parameters=path_parameters,
            port=self.port,
            req_id=req_id,
            identity_source=identity,
        )
        try:
            result = self.runtime.invoke(authorizer.function, event)
            allowed, context = authorizer_decision(
                result, simple=authorizer.simple_responses, route_arn=event["routeArn"]
            )
        except BadLambdaResponse as exc:
            log.error("authorizer %s returned a malformed response: %s", authorizer.name, exc)
            return gateway_message(500, "Internal Server Error"), None
        except Exception:
            log.exception("authorizer %s failed", authorizer.name)
            return gateway_message(500, "Internal Server Error"), None
        if not allowed:
            return gateway_message(403, "Forbidden"), None
        return None, context

    # ------------------------------------------------------------ HTTP plumbing

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "bridge-local"
            # Headers and body are separate writes on a kept-alive connection: without
            # TCP_NODELAY the body waits for the client's delayed ACK (about 40 ms).
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length > MAX_PAYLOAD:
                    self._send(gateway_message(413, "Request Entity Too Large"))
                    self.close_connection = True
                    return
                if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
                    body = self._read_chunked()
                    if body is None:
                        self._send(gateway_message(413, "Request Entity Too Large"))
                        self.close_connection = True
                        return
                else:
                    body = self.rfile.read(length) if length else b""
                request = HttpRequest(
                    method=self.command.upper(),
                    target=self.path,
                    headers=list(self.headers.items()),
                    body=body,
                    source_ip=self.client_address[0],
                    protocol=self.request_version,
                )
                try:
                    response = gateway.handle(request)
                except Exception:
                    log.exception("gateway error")
                    response = gateway_message(500, "Internal Server Error")
                self._send(response)

            def _read_chunked(self) -> bytes | None:
                chunks: list[bytes] = []
                total = 0
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass  # trailers
                        return b"".join(chunks)
                    total += size
                    if total > MAX_PAYLOAD:
                        return None
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()  # CRLF after each chunk

            def _send(self, response: HttpResponse) -> None:
                self.send_response(response.status)
                names = {name.lower() for name, _ in response.headers}
                for name, value in response.headers:
                    if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(name, value)
                if "content-type" not in names and response.body:
                    self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(response.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(response.body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

            def __getattr__(self, name: str) -> Any:
                # Any other method (TRACE, QUERY, ...) reaches the routing too, as on API
                # Gateway: no route for it, 404 Not Found (not http.server's 501).
                if name.startswith("do_"):
                    return self._serve
                raise AttributeError(name)

            def log_message(self, format: str, *args: Any) -> None:
                return  # the gateway announces requests itself

        return Handler


def json_response(status: int, document: Any) -> HttpResponse:
    return HttpResponse(status, [("content-type", "application/json")], json.dumps(document).encode())

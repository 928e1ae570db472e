"""A fake Talon.One Integration API: a real HTTP server on loopback.

    server = serve()                              # a free port; server.url is the base URL
    server.inject(Fault(kind="status", status=503, operation="updateCustomerSessionV2"))
    server.stop()

Every request is checked against the official schemas (schema.py) before it is served: one
the schema refuses is answered 400 like Talon.One does, and recorded in ``violations`` (the
contract harness fails the test when any are left). Every answer it builds is checked too.
Auth is ``Authorization: ApiKey-v1 <key>``; ``returnCartItems`` honours ``Idempotency-Key``
(the answer is stored and replayed, another body under the same key is refused). Faults
(tests/fake_rest_platform/faults.py: latency, timeout, status, throttle, malformed,
refuse, disconnect) are injected by operationId. The campaign is campaign.py.
Standalone: ``python -m tests.fake_talon_one``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.fake_rest_platform.faults import Fault, FaultPlan
from tests.fake_talon_one.campaign import PROGRAM_ID, Refused, TalonState, iso
from tests.fake_talon_one.schema import Operation, SchemaChecker, schema_checker

DEFAULT_API_KEY = "fake-talon-one-key"


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


def _json(status: int, payload: Any, *headers: tuple[str, str]) -> Answer:
    return Answer(status, json.dumps(payload, separators=(",", ":")).encode(), headers)


def _error(status: int, message: str, *, pointer: str | None = None) -> Answer:
    errors = [{"title": message, "source": {"pointer": pointer or ""}}] if pointer is not None else []
    return _json(status, {"message": message, "errors": errors, "StatusCode": status})


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    operation: str | None
    idempotency_key: str | None
    status: int | None = None
    fault: str | None = None


class _Stop(Exception):
    """Drop the connection without answering."""


@dataclass
class FakeTalonOne:
    api_keys: set[str] = field(default_factory=lambda: {DEFAULT_API_KEY})
    state: TalonState = field(default_factory=TalonState)
    checker: SchemaChecker = field(default_factory=schema_checker)
    faults: FaultPlan = field(default_factory=FaultPlan)
    requests: list[Recorded] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    crashes: list[str] = field(default_factory=list)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _idempotent: dict[str, tuple[str, Answer]] = field(default_factory=dict)
    _stopping: threading.Event = field(default_factory=threading.Event)

    # ------------------------------------------------------------ test API

    def inject(self, fault: Fault) -> None:
        self.faults.add(fault)

    def calls(self, operation: str | None = None) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if operation is None or r.operation == operation]

    def import_cards(self, numbers: list[str] | tuple[str, ...], batch_id: str = "stock") -> int:
        """Back office (the Campaign Manager's card import): cards with no profile."""
        with self._lock:
            added = 0
            for number in numbers:
                if number not in self.state.cards:
                    self.state.add_card(number, batch_id=batch_id)
                    added += 1
            return added

    def manual_points(self, number: str, amount: int) -> None:
        """Back office: points added (+) or deducted (-) by hand in the Campaign Manager."""
        with self._lock:
            kind = "addition" if amount > 0 else "subtraction"
            self.state.record(self.state.cards[number], kind, abs(amount), "Manual change", None)

    def block_card(self, number: str) -> None:
        with self._lock:
            self.state.cards[number].status = "inactive"

    # ------------------------------------------------------------ requests

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Answer:
        parts = urlsplit(raw_path)
        lowered = {k.lower(): v for k, v in headers.items()}
        found = self.checker.operation(method, parts.path)
        op = found[0] if found else None
        fault = self.faults.take(op.operation_id) if op else None
        index = self._record(
            Recorded(
                method,
                parts.path,
                op.operation_id if op else None,
                lowered.get("idempotency-key"),
                fault=fault.kind if fault else None,
            )
        )
        answer = self._answer(found, parts.query, lowered, body, fault)
        with self._lock:
            self.requests[index] = Recorded(**{**self.requests[index].__dict__, "status": answer.status})
        return answer

    def _answer(
        self,
        found: tuple[Operation, dict[str, str]] | None,
        query: str,
        headers: dict[str, str],
        body: bytes,
        fault: Fault | None,
    ) -> Answer:
        if found is None:
            return _error(404, "No such endpoint.")
        op, params = found
        scheme, _, key = headers.get("authorization", "").partition(" ")
        if scheme != "ApiKey-v1" or key.strip() not in self.api_keys:
            return _error(401, "Invalid API key.", pointer="")
        if fault is not None and not fault.after_effect:
            early = self._fault(fault)
            if early is not None:
                return early
        problems = self.checker.check_request(op, params, query, body, headers.get("content-type", ""))
        if problems:
            with self._lock:
                self.violations.extend(problems)
            return _error(400, "Request body or parameters do not match the API schema.", pointer="")
        path = {name: unquote(value) for name, value in params.items()}
        args = {name: values[-1] for name, values in parse_qs(query).items()}
        multi = parse_qs(query)
        idem = headers.get("idempotency-key")

        def run() -> Answer:
            return self._execute(op.operation_id, path, args, multi, body)

        answer = (
            self._once(idem, op, body, run)
            if idem and op.operation_id == "returnCartItems"
            else self._locked(run)
        )
        if 200 <= answer.status < 300:
            for problem in self.checker.check_response(op, answer.status, answer.body):
                with self._lock:
                    self.violations.append(problem)
        if fault is not None and fault.after_effect:
            late = self._fault(fault)
            if late is not None:
                return late
        return answer

    def _locked(self, run: Callable[[], Answer]) -> Answer:
        with self._lock:
            return run()

    def _once(self, key: str, op: Operation, body: bytes, run: Callable[[], Answer]) -> Answer:
        fingerprint = hashlib.sha256(op.operation_id.encode() + b"\n" + body).hexdigest()
        with self._lock:
            stored = self._idempotent.get(key)
            if stored is not None:
                if stored[0] != fingerprint:
                    return _error(409, "Idempotency key reused with another request.")
                return stored[1]
            answer = run()
            if 200 <= answer.status < 300:
                self._idempotent[key] = (fingerprint, answer)
            return answer

    def _fault(self, fault: Fault) -> Answer | None:
        match fault.kind:
            case "latency" | "timeout":
                self._stopping.wait(fault.seconds or (5.0 if fault.kind == "timeout" else 0.0))
                return None
            case "status" | "refuse":
                status = fault.http_status
                extra = (("Retry-After", fault.retry_after),) if fault.retry_after is not None else ()
                answer = _error(status, "Injected failure.")
                return Answer(answer.status, answer.body, extra)
            case "throttle":
                answer = _error(429, "Too many requests.")
                return Answer(429, answer.body, (("Retry-After", fault.retry_after or "1"),))
            case "malformed":
                return Answer(fault.status or 200, (fault.body or '{"effects": "lots"}').encode())
            case "disconnect":
                raise _Stop
        raise AssertionError(fault.kind)

    # ------------------------------------------------------------ operations

    def _execute(
        self, op_id: str, path: dict[str, str], args: dict[str, str], multi: dict[str, list[str]], body: bytes
    ) -> Answer:
        try:
            return self._dispatch(op_id, path, args, multi, json.loads(body) if body else {})
        except Refused as refused:
            return _error(400, str(refused), pointer="")
        except Exception as exc:  # a bug in the fake: 500, and the test sees it in crashes
            self.crashes.append(f"{op_id}: {type(exc).__name__}: {exc}")
            return _error(500, "Internal error.")

    def _dispatch(
        self, op_id: str, path: dict[str, str], args: dict[str, str], multi: dict[str, list[str]], body: Any
    ) -> Answer:
        state = self.state
        if "loyaltyProgramId" in path and path["loyaltyProgramId"] != str(PROGRAM_ID):
            return _error(404, "No such loyalty program.", pointer="")
        match op_id:
            case "updateCustomerProfileV2":
                integration_id = path["integrationId"]
                profile = state.profiles.setdefault(
                    integration_id, {"id": state.next_id(), "created": iso(state.now()), "attributes": {}}
                )
                if args.get("dry") != "true":
                    profile["attributes"].update(body.get("attributes") or {})
                return _json(
                    200,
                    {
                        "effects": [],
                        "createdCoupons": [],
                        "createdReferrals": [],
                        "customerProfile": self._profile(integration_id),
                    },
                )
            case "getCustomerInventory":
                integration_id = path["integrationId"]
                if integration_id not in state.profiles:
                    return _error(404, "Customer profile not found.", pointer="")
                inventory: dict[str, Any] = {}
                if args.get("profile") == "true":
                    inventory["profile"] = self._profile(integration_id)
                if args.get("loyalty") == "true":
                    inventory["loyalty"] = {
                        "programs": {},
                        "cards": [state.card_json(card) for card in state.cards_of(integration_id)],
                    }
                if args.get("referrals") == "true":
                    inventory["referrals"] = state.referrals_of(integration_id)
                return _json(200, inventory)
            case "generateLoyaltyCard":
                owners = body.get("customerProfileIds") or []
                identifier = body.get("cardIdentifier") or f"T1{state.next_id():010d}"
                card = state.add_card(identifier, profile=owners[0] if owners else None)
                card.status = body.get("status", "active")
                return _json(200, state.card_json(card))
            case "getLoyaltyCardBalances":
                card = state.cards.get(path["loyaltyCardId"])
                if card is None:
                    return _error(404, "Loyalty card not found.", pointer="")
                points = card.active_points
                return _json(
                    200,
                    {
                        "balance": {
                            "activePoints": points,
                            "pendingPoints": 0,
                            "spentPoints": 0,
                            "expiredPoints": 0,
                            "negativePoints": 0,
                        },
                        "profiles": card.profiles,
                    },
                )
            case "getLoyaltyCardTransactions":
                card = state.cards.get(path["loyaltyCardId"])
                if card is None:
                    return _error(404, "Loyalty card not found.", pointer="")
                sessions = set(multi.get("customerSessionIDs", []))
                rows = [
                    t for t in card.transactions if not sessions or t.get("customerSessionId") in sessions
                ]
                skip, size = int(args.get("skip", 0)), int(args.get("pageSize", 50))
                return _json(200, {"hasMore": len(rows) > skip + size, "data": rows[skip : skip + size]})
            case "linkLoyaltyCardToProfile":
                card = state.cards.get(path["loyaltyCardId"])
                if card is None:
                    return _error(404, "Loyalty card not found.", pointer="")
                owner = body["integrationId"]
                if owner not in state.profiles:
                    return _error(404, "Customer profile not found.", pointer="")
                if card.status != "active":
                    return _error(400, "The card is not active.", pointer="")
                if not any(p["integrationId"] == owner for p in card.profiles):
                    if card.profiles:
                        return _error(400, "The card has reached its users limit.", pointer="")
                    card.profiles.append({"integrationId": owner, "timestamp": iso(state.now())})
                return _json(200, state.card_json(card))
            case "updateCustomerSessionV2":
                effects = state.update_session(path["customerSessionId"], body, dry=args.get("dry") == "true")
                return _json(200, {"effects": effects, "createdCoupons": [], "createdReferrals": []})
            case "createReferral":
                if body["advocateProfileIntegrationId"] not in state.profiles:
                    return _error(404, "Customer profile not found.", pointer="")
                return _json(201, state.create_referral(body))
            case "deleteCustomerData":
                # "Delete all attributes on the customer profile and on entities that
                # reference this customer profile": the profile, its cards and their
                # transactions stay (the integration id is the bridge's random member id).
                integration_id = path["integrationId"]
                if integration_id not in state.profiles:
                    return _error(404, "Customer profile not found.", pointer="")
                state.profiles[integration_id]["attributes"] = {}
                return Answer(204)
            case "returnCartItems":
                items = body["return"]["returnedCartItems"]
                effects = state.return_items(path["customerSessionId"], items, dry=args.get("dry") == "true")
                return _json(200, {"effects": effects, "createdCoupons": [], "createdReferrals": []})
        raise AssertionError(op_id)

    def _profile(self, integration_id: str) -> dict[str, Any]:
        profile = self.state.profiles[integration_id]
        return {
            "id": profile["id"],
            "created": profile["created"],
            "integrationId": integration_id,
            "attributes": profile["attributes"],
            "accountId": 1,
            "closedSessions": 0,
            "totalSales": 0,
            "lastActivity": profile["created"],
        }

    def _record(self, record: Recorded) -> int:
        with self._lock:
            self.requests.append(record)
            return len(self.requests) - 1


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: FakeTalonOne) -> None:
        self.app = app
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a client that gave up (timeout faults) is expected


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeTalonOne/1.0"
    sys_version = ""
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            answer = self.server.app.handle(self.command, self.path, dict(self.headers.items()), body)
        except _Stop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer.body)))
            for name, value in answer.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(answer.body)
        except OSError:
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        return


class TalonOneServer:
    """The fake on a loopback port: ``url``, ``app`` (the FakeTalonOne), ``stop()``."""

    def __init__(self, app: FakeTalonOne, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self._httpd = _HTTPServer((host, port), app)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-talon-one",
            daemon=True,
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        self.app._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def serve(app: FakeTalonOne | None = None, *, host: str = "127.0.0.1", port: int = 0) -> TalonOneServer:
    return TalonOneServer(app or FakeTalonOne(), host, port)

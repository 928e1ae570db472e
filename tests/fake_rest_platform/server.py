"""A real HTTP server on loopback that speaks contracts/platform-openapi.yaml.

It delegates the loyalty rules to any ``ports.LoyaltyPlatform`` (by default
``tests.fakes.InMemoryPlatform``), and adds what an HTTP platform has on top: bearer auth,
idempotency keys (successful answers replayed, other bodies under the same key refused),
JSON error bodies, and faults injected on demand (faults.py). Every request it receives
and every answer it sends is checked against the contract; problems are collected in
``violations`` (fixtures fail the test when any are left).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from loyalty_bridge import errors
from loyalty_bridge.models.activity import ActivityEntry, Adjustment
from loyalty_bridge.models.domain import (
    Basket,
    Consents,
    MemberProfile,
    PlatformOrder,
    ProfileChanges,
    Reversal,
)
from loyalty_bridge.ports import LoyaltyPlatform
from tests.fake_rest_platform.contract import ContractChecker, contract_checker
from tests.fake_rest_platform.faults import Fault, FaultPlan

DEFAULT_TOKEN = "fake-platform-token"
_SUCCESS_STATUS = {
    "createMember": 201,
    "createHold": 201,
    "redeemReward": 201,
    "adjustPoints": 201,
    "setConsents": 204,
    "releaseHold": 204,
    "eraseMember": 204,
}


# ---------------------------------------------------------------- request bodies (wire)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _MemberCreate(_Body):
    profile: MemberProfile
    consents: Consents
    referral_code: str | None = None


class _MemberSearch(_Body):
    card_number: str | None = None
    email: str | None = None
    mobile: str | None = None


class _CardAttach(_Body):
    profile: MemberProfile


class _CardMerge(_Body):
    cards: list[str] = Field(min_length=1)


class _CardImport(_Body):
    batch_id: str = Field(min_length=1, max_length=128)
    cards: list[str] = Field(min_length=1, max_length=10_000)


class _CardBlock(_Body):
    reason: str = Field(min_length=1, max_length=200)


class _CardReplace(_Body):
    new_card_number: str = Field(min_length=1, max_length=64)


class _QuoteRequest(_Body):
    member_id: str | None = None
    basket: Basket
    redeem_points: int = Field(default=0, ge=0)


class _HoldCreate(_Body):
    redemption_id: str
    points: int = Field(gt=0)
    order_total: Decimal
    expires_at: datetime


class _ReversalLine(_Body):
    sku: str
    quantity: int = Field(gt=0)


class _ReversalCreate(_Body):
    reversal_id: str
    lines: list[_ReversalLine] = Field(default_factory=list)
    cancel: bool = False


# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    operation: str | None
    idempotency_key: str | None
    authorized: bool
    status: int | None  # what was answered; None while in flight or when the connection was dropped
    fault: str | None
    replayed: bool


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


def _json(status: int, payload: Any, *headers: tuple[str, str]) -> _Answer:
    return _Answer(status, json.dumps(payload, separators=(",", ":")).encode(), headers)


def _error(status: int, code: str, message: str, *, field: str | None = None, **extra: Any) -> _Answer:
    payload: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        payload["field"] = field
    payload.update(extra)
    headers: tuple[tuple[str, str], ...] = ()
    if status == 401:
        headers = (("WWW-Authenticate", 'Bearer realm="loyalty"'),)
    return _json(status, payload, *headers)


def _activity(entry: ActivityEntry) -> Any:
    """An entry as the contract carries it: no sentence (the bridge writes it), no net points."""
    return {k: v for k, v in _dump(entry).items() if k not in ("description", "points")}


def _dump(model: BaseModel) -> Any:
    return model.model_dump(mode="json")


class _Stop(Exception):
    """Send nothing: the connection is dropped or the client has gone."""


# ---------------------------------------------------------------- the server


class FakePlatformServer:
    """Start with ``serve()`` or as a context manager; ``url`` is the base URL."""

    def __init__(
        self,
        platform: LoyaltyPlatform,
        *,
        token: str = DEFAULT_TOKEN,
        host: str = "127.0.0.1",
        port: int = 0,
        checker: ContractChecker | None = None,
    ) -> None:
        self.platform = platform
        self.tokens = {token}
        self.faults = FaultPlan()
        self.checker = checker or contract_checker()
        self.requests: list[RecordedRequest] = []
        self.violations: list[str] = []
        self.crashes: list[str] = []  # unexpected exceptions in the delegate platform
        self._lock = threading.RLock()  # the delegate platform and the idempotency store
        self._records_lock = threading.Lock()
        self._idempotency: dict[str, tuple[str, _Answer]] = {}
        self._stopping = threading.Event()
        self._httpd = _HTTPServer((host, port), _Handler, self)
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakePlatformServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-platform",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping in latency/timeout faults
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakePlatformServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ test API

    def inject(self, fault: Fault) -> None:
        self.faults.add(fault)

    def fail_next(self, n: int, *, status: int = 503, operation: str | None = None) -> None:
        """The next ``n`` matching calls answer ``status`` without doing anything."""
        self.faults.add(Fault(kind="status", status=status, times=n, operation=operation))

    def calls(self, operation: str | None = None) -> list[RecordedRequest]:
        with self._records_lock:
            return [r for r in self.requests if operation is None or r.operation == operation]

    def rotate_token(self, token: str) -> None:
        self.tokens = {token}

    def reset(self) -> None:
        """Forget requests, faults and idempotency keys (not the platform's data)."""
        with self._records_lock:
            self.requests.clear()
            self.violations.clear()
            self.crashes.clear()
        with self._lock:
            self._idempotency.clear()
        self.faults.clear()

    # ------------------------------------------------------------ request handling

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> _Answer:
        path = urlsplit(raw_path).path
        if path.startswith("/_fake/"):
            return self._admin(method, path, body)
        found = self.checker.operation(method, path)
        if found is None:
            index = self._arrive(method, path, None, headers, authorized=False, fault=None)
            answer = _error(404, "not_found", "No such route.")
            self._finish(index, answer.status, replayed=False)
            return answer
        operation, params = found
        params = params | {f"?{k}": v for k, v in parse_qsl(urlsplit(raw_path).query)}  # query, apart
        op_id = operation.operation_id
        key = _header(headers, "Idempotency-Key")
        authorized = _header(headers, "Authorization") in {f"Bearer {t}" for t in self.tokens}
        fault = self.faults.take(op_id) if authorized else None
        # Recorded on arrival, so a test sees a request even while a fault keeps it waiting.
        index = self._arrive(method, path, op_id, headers, authorized=authorized, fault=fault)
        answer, replayed = self._serve(op_id, method, path, params, headers, body, key, authorized, fault)
        self._finish(index, answer.status, replayed=replayed)
        if fault is None or fault.kind in ("latency", "timeout"):
            for problem in self.checker.check_response(op_id, answer.status, answer.body):
                self._violation(problem)
        return answer

    def _serve(
        self,
        op_id: str,
        method: str,
        path: str,
        params: dict[str, str],
        headers: dict[str, str],
        body: bytes,
        key: str | None,
        authorized: bool,
        fault: Fault | None,
    ) -> tuple[_Answer, bool]:
        if not authorized:
            return _error(401, "unauthorized", "Missing or unknown bearer token."), False
        if fault is not None and not fault.after_effect:
            early = self._apply_fault(op_id, fault)
            if early is not None:
                return early, False
        for problem in self.checker.check_request(op_id, headers, body):
            self._violation(problem)
        if self.checker.is_write(method) and op_id not in ("searchMembers", "quoteBasket"):
            if not key:
                return _error(400, "idempotency_key_missing", "Writes need an Idempotency-Key header."), False
            answer, replayed = self._once(
                key, f"{method} {path}", body, lambda: self._execute(op_id, params, body, key)
            )
        else:
            answer, replayed = self._locked(lambda: self._execute(op_id, params, body, key)), False
        if fault is not None and fault.after_effect:
            late = self._apply_fault(op_id, fault)
            if late is not None:
                return late, False
        return answer, replayed

    def _once(self, key: str, target: str, body: bytes, run: Callable[[], _Answer]) -> tuple[_Answer, bool]:
        fingerprint = hashlib.sha256(target.encode() + b"\n" + body).hexdigest()
        with self._lock:
            stored = self._idempotency.get(key)
            if stored is not None:
                if stored[0] != fingerprint:
                    return _error(
                        409, "idempotency_key_reused", "This key was used for another request."
                    ), False
                first = stored[1]
                return _Answer(
                    first.status, first.body, (*first.headers, ("Idempotent-Replayed", "true"))
                ), True
            answer = run()
            if 200 <= answer.status < 300:  # refusals may be sent again once fixed
                self._idempotency[key] = (fingerprint, answer)
            return answer, False

    def _locked(self, run: Callable[[], _Answer]) -> _Answer:
        with self._lock:
            return run()

    def _apply_fault(self, op_id: str, fault: Fault) -> _Answer | None:
        """The answer that replaces the real one, or None to carry on."""
        match fault.kind:
            case "latency":
                self._stopping.wait(fault.seconds)
                return None
            case "timeout":
                self._stopping.wait(fault.seconds or 5.0)
                return None
            case "status":
                extra = (("Retry-After", fault.retry_after),) if fault.retry_after is not None else ()
                answer = _error(fault.http_status, fault.error_code, "Injected failure.")
                return _Answer(answer.status, answer.body, answer.headers + extra)
            case "throttle":
                answer = _error(429, "rate_limited", "Slow down.")
                return _Answer(429, answer.body, (("Retry-After", fault.retry_after or "1"),))
            case "malformed":
                body = fault.body if fault.body is not None else '{"unexpected": true, "points": "lots"}'
                status = fault.status or _SUCCESS_STATUS.get(op_id, 200)
                if status == 204:
                    # A 204 carries no body (HTTP drops it, and its bytes would be read as
                    # the next answer on the connection): a wrong answer to a no-content
                    # operation is a 200 with a body, e.g. a proxy's page.
                    status = 200
                return _Answer(status, body.encode())
            case "refuse":
                return _error(fault.http_status, fault.error_code, "Injected refusal.", field=fault.field)
            case "disconnect":
                raise _Stop
        raise AssertionError(fault.kind)

    # ------------------------------------------------------------ operations

    def _execute(self, op_id: str, params: dict[str, str], body: bytes, key: str | None) -> _Answer:
        member_id = unquote(params.get("member_id", ""))
        try:
            return self._dispatch(op_id, member_id, params, body, key or "")
        except ValidationError as exc:
            problems = [
                {"field": ".".join(str(p) for p in e["loc"]) or "<body>", "message": e["msg"]}
                for e in exc.errors(include_url=False)
            ]
            return _error(
                400,
                "validation_error",
                "The request is invalid.",
                field=problems[0]["field"] if problems else None,
                errors=problems,
            )
        except ValueError:
            return _error(400, "validation_error", "The request body is not JSON.")
        except errors.DuplicateMember as exc:
            return _error(
                409, "duplicate_member", f"{exc.field} already used by another member.", field=exc.field
            )
        except errors.CardNotAttachable:
            return _error(422, "card_not_attachable", "This card cannot be attached.")
        except errors.InsufficientPoints:
            return _error(409, "insufficient_points", "Not enough points.")
        except errors.Conflict as exc:  # adjustment_id_in_use
            return _error(409, exc.code, exc.detail)
        except (errors.CardBlocked, errors.CardNotReplaceable) as exc:  # A10: 409s with their code
            return _error(409, exc.code, exc.detail)
        except errors.CardNotFound:
            return _error(404, "card_not_found", "No member's card has this number.")
        except errors.MemberNotFound:
            return _error(404, "member_not_found", "No such member.")
        except errors.RewardNotFound:
            return _error(404, "reward_not_found", "No such reward.")
        except errors.NotFound:
            return _error(404, "not_found", "Not found.")
        except errors.InvalidInput as exc:
            if exc.code == "invalid_card_number":  # A10: a replacement number, kept as such
                return _error(422, exc.code, exc.detail)
            code = exc.code if exc.code == "invalid_cursor" else "validation_error"
            return _error(422, code, exc.detail, field=exc.context.get("field"))
        except errors.Refused as exc:  # other platform refusals keep their code (hold_expired...)
            return _error(422, exc.code, exc.detail)
        except errors.Retryable:
            return _error(503, "unavailable", "Try again later.")
        except Exception as exc:  # a bug in the delegate: answer 500 and let the test see it
            self.crashes.append(f"{op_id}: {type(exc).__name__}: {exc}")
            return _error(500, "internal_error", "Internal error.")

    def _dispatch(self, op_id: str, member_id: str, params: dict[str, str], body: bytes, key: str) -> _Answer:
        platform = self.platform
        match op_id:
            case "createMember":
                create = _MemberCreate.model_validate_json(body)
                member = platform.create_member(
                    create.profile, create.consents, idempotency_key=key, referral_code=create.referral_code
                )
                return _json(201, _dump(member))
            case "searchMembers":
                search = _MemberSearch.model_validate_json(body)
                members = platform.find_members(
                    card_number=search.card_number, email=search.email, mobile=search.mobile
                )
                return _json(200, {"members": [_dump(m) for m in members]})
            case "getMember":
                return _json(200, _dump(platform.get_member(member_id)))
            case "updateMember":
                changes = ProfileChanges.model_validate_json(body)
                return _json(200, _dump(platform.update_profile(member_id, changes, idempotency_key=key)))
            case "setConsents":
                platform.set_consents(member_id, Consents.model_validate_json(body), idempotency_key=key)
                return _Answer(204)
            case "eraseMember":
                platform.erase_member(member_id, idempotency_key=key)
                return _Answer(204)
            case "getBalance":
                return _json(200, _dump(platform.get_balance(member_id)))
            case "attachCard":
                attach = _CardAttach.model_validate_json(body)
                member = platform.attach_card(
                    unquote(params["card_number"]), attach.profile, idempotency_key=key
                )
                return _json(200, _dump(member))
            case "mergeCards":
                merge = _CardMerge.model_validate_json(body)
                member = platform.merge_cards(
                    unquote(params["card_number"]), merge.cards, idempotency_key=key
                )
                return _json(200, _dump(member))
            case "quoteBasket":
                request = _QuoteRequest.model_validate_json(body)
                quote = platform.quote(request.member_id, request.basket, redeem_points=request.redeem_points)
                return _json(200, _dump(quote))
            case "createHold":
                hold = _HoldCreate.model_validate_json(body)
                result = platform.hold_points(
                    member_id,
                    hold.redemption_id,
                    hold.points,
                    order_total=hold.order_total,
                    expires_at=hold.expires_at,
                )
                return _json(201, _dump(result))
            case "releaseHold":
                platform.release_hold(member_id, unquote(params["redemption_id"]))
                return _Answer(204)
            case "postOrder":
                order = PlatformOrder.model_validate_json(body)
                return _json(200, _dump(platform.post_order(member_id, order)))
            case "reverseOrder":
                reversal = _ReversalCreate.model_validate_json(body)
                domain = Reversal(
                    reversal_id=reversal.reversal_id,
                    order_id=unquote(params["order_id"]),
                    lines=[(line.sku, line.quantity) for line in reversal.lines],
                    cancel=reversal.cancel,
                )
                return _json(200, _dump(platform.reverse(member_id, domain)))
            case "listRewards":
                return _json(200, {"rewards": [_dump(reward) for reward in platform.rewards()]})
            case "redeemReward":
                coupon = platform.redeem_reward(member_id, unquote(params["reward_id"]), idempotency_key=key)
                return _json(201, _dump(coupon))
            case "listCoupons":
                return _json(200, {"coupons": [_dump(coupon) for coupon in platform.coupons(member_id)]})
            case "importCards":
                stock = _CardImport.model_validate_json(body)
                return _json(200, _dump(platform.import_cards(stock.batch_id, stock.cards)))
            case "blockCard":
                block = _CardBlock.model_validate_json(body)
                card = unquote(params["card_number"])
                return _json(200, _dump(platform.block_card(card, reason=block.reason, idempotency_key=key)))
            case "replaceCard":
                replace = _CardReplace.model_validate_json(body)
                card = unquote(params["card_number"])
                member = platform.replace_card(card, replace.new_card_number, idempotency_key=key)
                return _json(200, _dump(member))
            case "getMemberProfile":
                return _json(200, _dump(platform.member_profile(member_id)))
            case "adjustPoints":
                adjustment = Adjustment.model_validate_json(body)
                return _json(201, _dump(platform.adjust(member_id, adjustment)))
            case "listActivity":
                page = platform.activity(
                    member_id, limit=int(params.get("?limit", "20")), cursor=params.get("?cursor") or None
                )
                return _json(
                    200, {"entries": [_activity(e) for e in page.entries], "next_cursor": page.next_cursor}
                )
        raise AssertionError(op_id)

    # ------------------------------------------------------------ admin (not in the contract)

    def _admin(self, method: str, path: str, body: bytes) -> _Answer:
        if (method, path) == ("POST", "/_fake/faults"):
            try:
                self.inject(Fault.from_json(json.loads(body or b"{}")))
            except (ValueError, TypeError) as exc:
                return _error(400, "validation_error", str(exc))
            return _json(
                201, {"pending": [{**f.as_json(), "remaining": n} for f, n in self.faults.pending()]}
            )
        if (method, path) == ("DELETE", "/_fake/faults"):
            self.faults.clear()
            return _Answer(204)
        if (method, path) == ("GET", "/_fake/requests"):
            return _json(200, {"requests": [asdict(r) for r in self.calls()]})
        if (method, path) == ("POST", "/_fake/reset"):
            self.reset()
            return _Answer(204)
        return _error(404, "not_found", "No such admin route.")

    # ------------------------------------------------------------ bookkeeping

    def _arrive(
        self,
        method: str,
        path: str,
        op_id: str | None,
        headers: dict[str, str],
        *,
        authorized: bool,
        fault: Fault | None,
    ) -> int:
        record = RecordedRequest(
            method=method,
            path=path,
            operation=op_id,
            idempotency_key=_header(headers, "Idempotency-Key"),
            authorized=authorized,
            status=None,
            fault=fault.kind if fault is not None else None,
            replayed=False,
        )
        with self._records_lock:
            self.requests.append(record)
            return len(self.requests) - 1

    def _finish(self, index: int, status: int, *, replayed: bool) -> None:
        with self._records_lock:
            if index < len(self.requests):
                self.requests[index] = replace(self.requests[index], status=status, replayed=replayed)

    def _violation(self, problem: str) -> None:
        with self._records_lock:
            self.violations.append(problem)


def _header(headers: dict[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], app: FakePlatformServer
    ) -> None:
        self.app = app
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout tests) is expected; stay quiet about it.
        return


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like a real platform behind a load balancer
    server_version = "FakeLoyaltyPlatform/1.0"
    sys_version = ""
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, Nagle + delayed ACK add 40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = dict(self.headers.items())
        try:
            answer = self.server.app.handle(self.command, self.path, headers, body)
        except _Stop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        try:
            self.send_response(answer.status)
            if answer.body:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer.body)))
            for name, value in answer.headers:
                self.send_header(name, value)
            self.end_headers()
            if answer.body:
                self.wfile.write(answer.body)
        except OSError:  # the client gave up (timeout faults)
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        return


def serve(
    platform: LoyaltyPlatform | None = None,
    *,
    token: str = DEFAULT_TOKEN,
    host: str = "127.0.0.1",
    port: int = 0,
) -> FakePlatformServer:
    """Start a fake platform (port 0: a free one) and return it; call ``stop()`` when done."""
    if platform is None:
        from tests.fakes import InMemoryPlatform

        platform = InMemoryPlatform()
    return FakePlatformServer(platform, token=token, host=host, port=port).start()

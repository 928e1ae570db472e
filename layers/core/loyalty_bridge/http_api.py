"""The HTTP front door every API function shares: ``make_resolver()``.

It returns a Powertools ``APIGatewayHttpResolver`` (payload v2, ``enable_validation=True``)
that, before any route runs, admits the request in this order:

1. body at most 64 KiB (413 ``payload_too_large``), or the larger limit a resolver sets
   for a bulk route (``body_limits``: the card stock import takes 10,000 numbers);
2. signature (API.md): key id known, timestamp within the window, HMAC over the body
   hash correct (401 ``unauthorized``, the same reply for every reason). The HTTP API
   authorizer cannot do this part: authorizers never receive the body;
3. scope: a storefront key on an admin resolver is 403 ``forbidden``;
4. a JSON body must parse (400 ``malformed_json``: a broken body is the client's syntax
   error, not a field validation 422);
5. writes (POST/PATCH/PUT) carry an ``Idempotency-Key`` (400 ``idempotency_key_required``)
   and run under Powertools idempotency, keyed by (key id, method, raw path, key) and
   validated on the body hash: a repeat answers the stored first response; another body
   under the same key is 409 ``idempotency_key_reused``; a repeat while the first is still
   running is 409 ``request_in_progress``.

These checks wrap ``resolve`` rather than being Powertools middlewares because the
request validation middleware always runs first; an unsigned request must get a 401,
not a 422 about its fields.

Routes read the caller with ``current_key_id(app)``, ``current_request_id(app)`` and
``current_idempotency_key(app)``. Errors are mapped by http_errors.py only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import ResponseBuilder
from aws_lambda_powertools.event_handler.exceptions import NotFoundError, ServiceError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from loyalty_bridge import answers, errors, http_errors, signing
from loyalty_bridge.observability import logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
    from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
    from aws_lambda_powertools.utilities.typing import LambdaContext

MAX_BODY_BYTES = 64 * 1024
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT"})
IDEMPOTENCY_HEADER = "Idempotency-Key"
MIN_IDEMPOTENCY_SECONDS = 24 * 3600
# Answers that mean "nothing was done, try again" are not remembered under the key.
_NOT_STORED_STATUSES = frozenset({409, 429})
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")  # visible ASCII, no spaces

Scope = Literal["storefront", "admin"]

_UNAUTHORIZED_DETAIL = "The request signature is missing or invalid."


@dataclass(frozen=True, slots=True)
class _Admitted:
    key_id: str
    scope: str
    idempotency_key: str | None
    body_sha256: str


class _Rejected(Exception):
    """An admission check said no; carries the problem to answer with."""

    def __init__(self, status: int, code: str, title: str, detail: str) -> None:
        super().__init__(code)
        self.status, self.code, self.title, self.detail = status, code, title, detail


class _NotStored(Exception):
    """Carries a response out of the idempotent call so that it is not stored."""

    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__("response not stored")
        self.result = result


class _Answer:
    """This request's answer, for a change that completes the request's idempotency record
    in its own transaction (answers.py). The route sets how it responds (``answer``), with
    its route and event: a change still running after the request was answered (a
    deadline's background call, services/deadline.py) renders nothing from the resolver,
    which may be serving the next request by then, and adds no completion (``closed``)."""

    def __init__(self, resolver: BridgeResolver, store: BasePersistenceLayer, data: dict[str, Any]) -> None:
        self._resolver = resolver
        self._store = store
        self._data = data
        self.respond: Callable[[Any], Response[Any]] | None = None
        self.route: Any = None
        self.event: APIGatewayProxyEventV2 | None = None
        self.closed = False
        self._pending: str | None = None
        self._written: str | None = None
        self._declined = False

    def items(self, answer: Any) -> Sequence[answers.AnswerItem]:
        completion = getattr(self._store, "completion_item", None)
        if self.respond is None or self.event is None or self._declined or self.closed or completion is None:
            return []
        rendered = self._resolver.render_answer(self.respond(answer), self.route, self.event)
        item, self._pending = completion(self._data, rendered)
        return [answers.AnswerItem(item)]

    def committed(self) -> None:
        self._written = self._pending

    def declined(self) -> None:
        self._declined = True

    def completed_with(self, response_data: str) -> bool:
        return self._written is not None and self._written == response_data


def _header(headers: Mapping[str, Any], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return str(value) if value is not None else None
    return None


def _is_json(content_type: str | None) -> bool:
    # Same rule as Powertools' body parsing: no content type means JSON.
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return not media or media == "application/json" or media.endswith("+json")


class BridgeResolver(APIGatewayHttpResolver):
    """APIGatewayHttpResolver with the admission checks of this module around ``resolve``.

    ``signing_keys`` and ``idempotency_store`` default to ``wiring.signing_keys()`` /
    ``wiring.idempotency_store()`` on first use; tests assign fakes to these attributes.
    """

    def __init__(
        self,
        *,
        signed: bool = True,
        scope: Scope = "storefront",
        idempotent_writes: bool = True,
        signing_keys: signing.KeyStore | None = None,
        idempotency_store: BasePersistenceLayer | None = None,
        body_limits: Mapping[str, int] | None = None,
        read_only_paths: Collection[str] = (),
    ) -> None:
        super().__init__(enable_validation=True)
        self.body_limits = dict(body_limits or {})  # raw path -> larger limit (bulk routes)
        # POST routes that change nothing (the quote): no idempotency record, since asking
        # again gives the same answer; an Idempotency-Key is not needed and, sent, ignored.
        self.read_only_paths = frozenset(read_only_paths)
        self.signed = signed
        self.scope: Scope = scope
        self.idempotent_writes = idempotent_writes
        self.signing_keys = signing_keys
        self.idempotency_store = idempotency_store
        self._idempotency_config: IdempotencyConfig | None = None

    # ------------------------------------------------------------ entry point

    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        raw = dict(event)
        # Powertools keeps the request being resolved on its BaseRouter class, one for every
        # resolver in the process; this resolver's own request is read from the instance, so
        # two resolvers serving at once in one process (the local stack's warm containers)
        # never read each other's event: a route saw another request's body.
        self.current_event = APIGatewayProxyEventV2(raw)
        self.lambda_context = context
        request_id = str((raw.get("requestContext") or {}).get("requestId", ""))
        try:
            try:
                admitted = self._admit(raw)
            except _Rejected as rejected:
                problem = http_errors.problem(
                    rejected.status, rejected.code, rejected.title, rejected.detail, request_id=request_id
                )
                return self._render(problem, raw)
            except errors.BridgeError as exc:  # Unauthorized, Forbidden, key store Retryable
                return self._render(http_errors.from_bridge_error(exc, request_id), raw)
            self.context.update(
                key_id=admitted.key_id,
                scope=admitted.scope,
                request_id=request_id,
                idempotency_key=admitted.idempotency_key,
            )
            if admitted.idempotency_key is None:
                return super().resolve(raw, context)
            return self._resolve_once(raw, context, admitted, request_id)
        finally:
            self.context.clear()

    # ------------------------------------------------------------ the route's answer

    def answer[M](self, respond: Callable[[M], Response[Any]], change: Callable[[], M]) -> Response[Any]:
        """``respond(change())``: a route whose service call may write its answer with its
        change (answers.py) says here how that answer is sent, so the one written in the
        change's transaction is the one this route sends."""
        current = answers.current()
        if isinstance(current, _Answer):
            current.respond, current.route, current.event = (
                respond,
                self.context["_route"],
                self.current_event,
            )
        return respond(change())

    def render_answer(
        self, response: Response[Any], route: Any, event: APIGatewayProxyEventV2
    ) -> dict[str, Any]:
        """``response`` as ``route`` sends it to ``event``: the route's response validation
        and serialisation, then the response builder (Powertools' own steps, ``_call_route``;
        the same call gives the same dict)."""
        validated = self._response_validation_middleware._handle_response(route=route, response=response)
        sent = cast("Response[Any]", self._to_response(validated))
        builder = ResponseBuilder[APIGatewayProxyEventV2](
            response=sent, serializer=self._serializer, route=route
        )
        built: dict[str, Any] = builder.build(event, self._cors)
        return built

    # ------------------------------------------------------------ admission

    def _admit(self, event: dict[str, Any]) -> _Admitted:
        headers: Mapping[str, Any] = event.get("headers") or {}
        http = (event.get("requestContext") or {}).get("http") or {}
        method = str(http.get("method", "")).upper()
        content_type = _header(headers, "content-type")
        json_body = _is_json(content_type)
        if (content_type or "").strip().lower().startswith("multipart/"):
            # No route takes form data; Powertools' form parsing would fail on a bad one (500).
            raise _Rejected(
                415,
                "unsupported_media_type",
                "Unsupported media type",
                "Send the request body as application/json.",
            )
        body = self._body_bytes(event, json_body=json_body)
        raw_path = str(event.get("rawPath") or http.get("path") or "/")
        limit = self.body_limits.get(raw_path, MAX_BODY_BYTES)
        if len(body) > limit:
            raise _Rejected(
                413,
                "payload_too_large",
                "Payload too large",
                f"The request body is larger than {limit // 1024} KiB.",
            )
        key_id, scope = "-", "anonymous"
        if self.signed:
            key = self._verify_signature(
                headers, method, signing.signing_path(raw_path, event.get("rawQueryString")), body
            )
            key_id, scope = key.key_id, key.scope
            if self.scope == "admin" and key.scope != "admin":
                raise errors.Forbidden("This key may not call admin routes.")
        if json_body and body.strip():
            try:
                json.loads(body.decode("utf-8"))  # as Powertools will: text, not bytes (no BOM sniffing)
            except ValueError:
                raise _Rejected(
                    400, "malformed_json", "Malformed JSON", "The request body is not valid JSON."
                ) from None
        idempotency_key = None
        if self.idempotent_writes and method in WRITE_METHODS and raw_path not in self.read_only_paths:
            idempotency_key = (_header(headers, IDEMPOTENCY_HEADER) or "").strip()
            if not idempotency_key:
                raise _Rejected(
                    400,
                    "idempotency_key_required",
                    "Idempotency key required",
                    f"{method} requests need an {IDEMPOTENCY_HEADER} header.",
                )
            if not _IDEMPOTENCY_KEY.match(idempotency_key):
                raise _Rejected(
                    400,
                    "idempotency_key_invalid",
                    "Idempotency key invalid",
                    f"{IDEMPOTENCY_HEADER} must be 1 to 255 visible ASCII characters.",
                )
        return _Admitted(key_id, scope, idempotency_key, hashlib.sha256(body).hexdigest())

    @staticmethod
    def _body_bytes(event: Mapping[str, Any], *, json_body: bool) -> bytes:
        body = event.get("body") or ""
        code = "malformed_json" if json_body else "malformed_body"
        if not event.get("isBase64Encoded"):
            return str(body).encode("utf-8")
        try:
            decoded = base64.b64decode(str(body), validate=True)
            # Powertools decodes bodies as UTF-8 text: refuse what it could not decode.
            decoded.decode("utf-8")
        except (binascii.Error, ValueError):
            raise _Rejected(400, code, "Malformed body", "The request body could not be decoded.") from None
        return decoded

    def _verify_signature(
        self, headers: Mapping[str, Any], method: str, path: str, body: bytes
    ) -> signing.SigningKey:
        from loyalty_bridge import wiring

        key_id = _header(headers, signing.KEY_ID_HEADER)
        timestamp = _header(headers, signing.TIMESTAMP_HEADER)
        signature = _header(headers, signing.SIGNATURE_HEADER)
        reason = ""
        key = None
        if not (key_id and timestamp and signature):
            reason = "missing_headers"
        else:
            keys = self.signing_keys if self.signing_keys is not None else wiring.signing_keys()
            key = keys.get(key_id)
            settings = wiring.settings()
            if key is None:
                reason = "unknown_key"
            elif not signing.timestamp_fresh(timestamp, window_seconds=settings.signing_window_seconds):
                reason = "stale_timestamp"
            elif not signing.verify(
                key.secret,
                timestamp=timestamp,
                method=method,
                path=path,
                body=body,
                signature=signature,
                window_seconds=settings.signing_window_seconds,
            ):
                reason = "bad_signature"
        if reason or key is None:
            # The reason goes to the log only: the caller learns nothing about which check failed.
            logger.info("request signature rejected", extra={"reason": reason, "key_id": key_id or "-"})
            raise errors.Unauthorized(_UNAUTHORIZED_DETAIL)
        return key

    # ------------------------------------------------------------ idempotency

    def _config(self) -> IdempotencyConfig:
        from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

        from loyalty_bridge import wiring

        if self._idempotency_config is None:
            self._idempotency_config = IdempotencyConfig(
                event_key_jmespath="key",
                payload_validation_jmespath="request",
                raise_on_no_idempotency_key=True,
                expires_after_seconds=max(wiring.settings().idempotency_ttl_seconds, MIN_IDEMPOTENCY_SECONDS),
                hash_function="sha256",
            )
        return self._idempotency_config

    def _resolve_once(
        self, event: dict[str, Any], context: LambdaContext, admitted: _Admitted, request_id: str
    ) -> dict[str, Any]:
        from aws_lambda_powertools.utilities.idempotency import idempotent_function
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            BaseError,
            IdempotencyAlreadyInProgressError,
            IdempotencyValidationError,
        )

        from loyalty_bridge import wiring

        store = self.idempotency_store if self.idempotency_store is not None else wiring.idempotency_store()
        config = self._config()
        if hasattr(context, "get_remaining_time_in_millis"):
            # Lets an in-progress record expire when this invocation would have timed out.
            config.register_lambda_context(context)
        data = self._idempotency_data(event, admitted)
        ran: list[bool] = []  # the route ran under this request's in-progress record

        answering = _Answer(self, store, data)

        def run_route(request: dict[str, Any]) -> dict[str, Any]:
            ran.append(True)
            try:
                result = APIGatewayHttpResolver.resolve(self, event, context)
            finally:
                answering.closed = True  # answered: a change still running adds no completion
            status = int(result.get("statusCode", 500))
            if status >= 500 or status in _NOT_STORED_STATUSES:
                raise _NotStored(result)
            return result

        once = idempotent_function(
            run_route,
            data_keyword_argument="request",
            persistence_store=store,
            config=config,
            key_prefix="http",
        )
        try:
            with answers.answering(answering):
                result: dict[str, Any] = once(request=data)
        except _NotStored as not_stored:
            return not_stored.result
        except IdempotencyValidationError:
            return self._render(
                http_errors.problem(
                    409,
                    "idempotency_key_reused",
                    "Idempotency key reused",
                    f"This {IDEMPOTENCY_HEADER} was already used with a different request.",
                    request_id=request_id,
                ),
                event,
            )
        except IdempotencyAlreadyInProgressError:
            return self._render(
                http_errors.problem(
                    409,
                    "request_in_progress",
                    "Request in progress",
                    f"A request with this {IDEMPOTENCY_HEADER} is still being processed; retry shortly.",
                    request_id=request_id,
                    headers={"Retry-After": "1"},
                ),
                event,
            )
        except BaseError as exc:  # the idempotency store failed: safe to retry later
            logger.warning("idempotency store failed", extra={"error_type": type(exc).__name__})
            if ran:
                self._release_key(store, data, exc)
            return self._render(
                http_errors.from_bridge_error(errors.Retryable("idempotency store unavailable"), request_id),
                event,
            )
        return result

    # ------------------------------------------------------------ helpers

    @staticmethod
    def _idempotency_data(event: dict[str, Any], admitted: _Admitted) -> dict[str, Any]:
        """What the idempotency record is keyed by (the caller, method, raw path and key) and
        what a repeat must match (the body's digest and the query)."""
        http = event.get("requestContext", {}).get("http", {})
        return {
            "key": {
                "key_id": admitted.key_id,
                "method": str(http.get("method", "")).upper(),
                "path": str(event.get("rawPath") or http.get("path") or "/"),
                "idempotency_key": admitted.idempotency_key,
            },
            "request": {"body_sha256": admitted.body_sha256, "query": str(event.get("rawQueryString") or "")},
        }

    @staticmethod
    def _release_key(store: BasePersistenceLayer, data: dict[str, Any], exc: Exception) -> None:
        """The route ran but its answer could not be stored (or its in-progress record not
        cleared): the record this request wrote is still in progress, so every retry would
        be answered ``request_in_progress`` until this invocation's timeout had passed. The
        503 says "retry": the record goes, and the retry runs the route again, which finds
        what this run wrote (every write route answers a repeat as such). When this delete
        fails too, the record still expires with the invocation's timeout, as before."""
        try:
            store.delete_record(data=data, exception=exc)
        except Exception as delete_failed:
            logger.warning(
                "idempotency record left in progress", extra={"error_type": type(delete_failed).__name__}
            )

    def _convert_matches_into_route_keys(self, match: re.Match[str]) -> dict[str, str]:
        # Path parameters arrive as sent (API Gateway leaves rawPath percent-encoded): an id
        # such as "c:1" is validated, and used, as itself, not as "c%3A1".
        return {name: unquote(value) for name, value in match.groupdict().items()}

    @staticmethod
    def _render(response: Response[str], event: dict[str, Any]) -> dict[str, Any]:
        builder = ResponseBuilder[APIGatewayProxyEventV2](response=response)
        built: dict[str, Any] = builder.build(APIGatewayProxyEventV2(event))
        return built


def _request_id(app: APIGatewayHttpResolver) -> str:
    return str(app.context.get("request_id") or app.current_event.request_context.request_id or "")


def current_key_id(app: APIGatewayHttpResolver) -> str:
    """The verified key id of the caller ("-" on unsigned resolvers)."""
    return str(app.context.get("key_id", "-"))


def current_scope(app: APIGatewayHttpResolver) -> str:
    return str(app.context.get("scope", "anonymous"))


def current_request_id(app: APIGatewayHttpResolver) -> str:
    """API Gateway's requestContext.requestId (also in every problem+json reply)."""
    return _request_id(app)


def current_idempotency_key(app: APIGatewayHttpResolver) -> str | None:
    """The request's Idempotency-Key (writes), e.g. to derive business idempotency keys."""
    value = app.context.get("idempotency_key")
    return str(value) if value else None


def make_resolver(
    *,
    signed: bool = True,
    scope: Scope = "storefront",
    idempotent_writes: bool = True,
    body_limits: Mapping[str, int] | None = None,
    read_only_paths: Collection[str] = (),
) -> BridgeResolver:
    """The router of an API function. ``signed=False`` for health and webhooks (which also
    pass ``idempotent_writes=False`` when their callers send no Idempotency-Key).
    ``body_limits``: raw paths allowed a body over 64 KiB (bulk admin imports).
    ``read_only_paths``: raw paths of POST routes that change nothing (no idempotency record)."""
    app = BridgeResolver(
        signed=signed,
        scope=scope,
        idempotent_writes=idempotent_writes,
        body_limits=body_limits,
        read_only_paths=read_only_paths,
    )

    def _bridge_error(exc: errors.BridgeError) -> Response[str]:
        if http_errors.status_for(exc)[0] >= 500:
            logger.warning("request failed", extra={"code": exc.code, "error_type": type(exc).__name__})
        return http_errors.from_bridge_error(exc, _request_id(app))

    def _validation_error(exc: RequestValidationError) -> Response[str]:
        return http_errors.from_validation_error(exc, _request_id(app))

    def _unsupported_media(exc: RequestUnsupportedContentType) -> Response[str]:
        return http_errors.problem(
            415,
            "unsupported_media_type",
            "Unsupported media type",
            "Send the request body as application/json.",
            request_id=_request_id(app),
        )

    def _not_found(exc: NotFoundError) -> Response[str]:
        return http_errors.problem(
            404, "route_not_found", "Not found", "There is no such endpoint.", request_id=_request_id(app)
        )

    def _service_error(exc: ServiceError) -> Response[str]:
        status = int(exc.status_code)
        if status >= 500:
            return http_errors.from_unexpected(exc, _request_id(app))
        return http_errors.problem(
            status, "request_error", "Request error", str(exc.msg), request_id=_request_id(app)
        )

    def _unexpected(exc: Exception) -> Response[str]:
        return http_errors.from_unexpected(exc, _request_id(app))

    # Powertools' decorators are untyped: register through one typed call. The lookup walks
    # each exception's MRO, so Exception only catches what nothing more specific does.
    register = cast("Any", app).exception_handler
    register(errors.BridgeError)(_bridge_error)
    register(RequestValidationError)(_validation_error)
    register(RequestUnsupportedContentType)(_unsupported_media)
    register(NotFoundError)(_not_found)  # unknown routes (what app.not_found registers)
    register(ServiceError)(_service_error)
    register(Exception)(_unexpected)
    return app

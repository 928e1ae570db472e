"""The external platform's HTTP API as calls: the client, the bearer token, retries and
the mapping of refusals to errors (adapters/rest_platform.py maps the port onto it).

Failure policy, in one place (``PlatformHttp.call``):
- technical failures (connect errors, timeouts, 408, 429, 5xx) are retried a few times
  with capped exponential backoff and FULL jitter; 429/503 ``Retry-After`` is honoured
  (one longer than ``platform_retry_after_max_seconds`` fails fast: better to let the
  queue retry than to sleep in a Lambda). Out of attempts, or out of the per-call time
  budget (``platform_call_budget_seconds``, under the API functions' Lambda timeout; the
  last attempt's timeouts are shortened to fit): ``PlatformUnavailable``.
- every write carries an ``Idempotency-Key`` derived from its business id and the SAME
  key (and the same bytes) go out on every retry, so a retried write has one effect.
- a validation refusal (any other 4xx with a contract error body) is mapped by its
  ``code`` to the typed errors in errors.py and NEVER retried.
- every body is validated with pydantic against the contract; a body that does not match
  (or a status the contract does not allow) is ``PlatformUnavailable`` and is not retried
  in-call (it is usually deterministic; the worker's queue retries later).
- 401: the bearer token is re-read from Secrets Manager once (rotation), then technical.
Logs carry the operation, status, attempt and error type: never bodies, URLs (card
numbers, member ids) or the platform's messages (they may contain personal data).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import socket
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final, NoReturn, Protocol

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from loyalty_bridge import errors
from loyalty_bridge.observability import MetricName, logger
from loyalty_bridge.ports import Metrics
from loyalty_bridge.settings import Settings

USER_AGENT: Final = "loyalty-bridge/rest-platform"
_CODE: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")
_HEADER_KEY: Final = re.compile(r"[\x21-\x7e]{1,255}")


class JsonSecretReader(Protocol):
    """adapters/secrets.py ``SecretsReader``."""

    def read_json_secret(self, arn_or_name: str) -> dict[str, Any]: ...

    def forget(self, arn_or_name: str | None = None) -> None: ...


class PlatformNotConfigured(errors.Permanent):
    """No bearer token in the platform secret: a human must set it (retrying cannot help)."""

    code = "platform_not_configured"


class SecretBearerToken:
    """Bearer token from the Secrets Manager secret ``{"token": "..."}`` (cached by the
    reader with a TTL, so a rotated token is picked up; ``invalidate`` forces a re-read)."""

    def __init__(self, secrets: JsonSecretReader, secret_arn: str) -> None:
        self._secrets = secrets
        self._secret_arn = secret_arn

    def __call__(self) -> str:
        if not self._secret_arn:
            raise PlatformNotConfigured("PLATFORM_SECRET_ARN is not set")
        token = self._secrets.read_json_secret(self._secret_arn).get("token")
        if not isinstance(token, str) or not token.strip():
            raise PlatformNotConfigured("the platform secret has no token")
        return token.strip()

    def invalidate(self) -> None:
        self._secrets.forget(self._secret_arn)


def build_http_client(settings: Settings) -> httpx.Client:
    """The pooled client ``wiring`` keeps while warm: timeouts, connection limits, no
    redirects, no transport-level retries (the adapter's policy is the only one)."""
    transport = httpx.HTTPTransport(
        limits=httpx.Limits(
            max_connections=settings.platform_max_connections,
            max_keepalive_connections=settings.platform_max_connections,
            keepalive_expiry=30.0,
        ),
        retries=0,
        # Small JSON requests go out as headers + body: do not let Nagle hold the body back.
        socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
    )
    return httpx.Client(
        transport=transport,
        timeout=timeout_of(settings),
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        follow_redirects=False,
    )


def timeout_of(settings: Settings) -> httpx.Timeout:
    return httpx.Timeout(
        settings.platform_read_timeout_seconds,
        connect=settings.platform_connect_timeout_seconds,
        pool=settings.platform_connect_timeout_seconds,
    )


class PlatformInvalidInput(errors.PlatformRefused, errors.InvalidInput):
    """The platform found the request's data invalid (``validation_error``): permanent, and
    an InvalidInput like the one the built-in ledger raises for the same input."""

    code = "validation_error"


class ErrorOut(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    code: str = Field(min_length=1, max_length=100)
    message: str = ""
    field: str | None = None


class Technical(Exception):
    """One failed attempt that retrying may fix."""

    def __init__(self, reason: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


class PlatformHttp:
    """One logical platform call at a time: attempts, retry policy, error mapping (module
    doc). Thread-safe: httpx.Client is, and no per-call state is kept.

    Another platform's transport subclasses it (adapters/talon_one_transport.py): its auth
    scheme, the statuses it retries, and how its refusals map to errors (``_refusal``)."""

    AUTH_SCHEME = "Bearer"
    RETRY_STATUSES: frozenset[int] = frozenset({408, 429})

    def __init__(
        self,
        http: httpx.Client,
        base_url: str,
        token_provider: Callable[[], str],
        settings: Settings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        metrics: Metrics,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._token = token_provider
        self._settings = settings
        self._sleep = sleep
        self._rng = rng or random.SystemRandom()
        self._metrics = metrics
        self._clock = clock

    def call[W: BaseModel](
        self,
        operation: str,
        method: str,
        path: str,
        model: type[W] | None,
        *,
        expect: int = 200,
        body: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> W:
        """One logical platform call: attempts, retry policy, error mapping (module doc)."""
        # Serialised once: every retry sends the same bytes with the same key.
        content = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        headers = {"Accept": "application/json"}
        if content is not None:
            headers["Content-Type"] = "application/json"
        if idempotency_key is not None:
            headers["Idempotency-Key"] = header_key(idempotency_key)
        max_attempts = max(1, self._settings.platform_max_attempts)
        deadline = self._clock() + self._settings.platform_call_budget_seconds
        token_refreshed = False
        attempt = 0
        while True:
            attempt += 1
            try:
                timeout = self._attempt_timeout(deadline)
                return self._attempt(operation, method, path, model, expect, content, headers, timeout)
            except Unauthorized:
                if token_refreshed or attempt >= max_attempts:
                    logger.error("platform rejected our credentials", extra={"operation": operation})
                    raise errors.PlatformUnavailable(
                        "The loyalty platform rejected our credentials.", operation=operation, status=401
                    ) from None
                token_refreshed = True
                self._invalidate_token()
                continue
            except Technical as failure:
                delay = self._backoff(attempt, failure.retry_after)
                if delay is not None and self._clock() + delay >= deadline:
                    failure.reason += "+budget_exhausted"
                    delay = None
                if attempt >= max_attempts or delay is None:
                    logger.warning(
                        "platform unavailable, giving up",
                        extra={
                            "operation": operation,
                            "attempts": attempt,
                            "reason": failure.reason,
                            "status": failure.status,
                            "retry_after": failure.retry_after,
                        },
                    )
                    raise errors.PlatformUnavailable(
                        "The loyalty platform is unavailable.",
                        operation=operation,
                        status=failure.status,
                        reason=failure.reason,
                        attempts=attempt,
                        retry_after=failure.retry_after,
                    ) from None
                logger.info(
                    "platform call failed, retrying",
                    extra={
                        "operation": operation,
                        "attempt": attempt,
                        "reason": failure.reason,
                        "status": failure.status,
                        "retry_in_s": round(delay, 3),
                    },
                )
                self._sleep(delay)

    def _attempt[W: BaseModel](
        self,
        operation: str,
        method: str,
        path: str,
        model: type[W] | None,
        expect: int,
        content: bytes | None,
        headers: dict[str, str],
        timeout: httpx.Timeout,
    ) -> W:
        request_headers = {**headers, "Authorization": f"{self.AUTH_SCHEME} {self._token()}"}
        started = self._clock()
        try:
            response = self._http.request(
                method,
                self._base_url + path,
                content=content,
                headers=request_headers,
                timeout=timeout,
            )
        except httpx.TimeoutException as exc:
            self._record(started, failed=True)
            raise Technical(type(exc).__name__) from None
        except httpx.LocalProtocolError as exc:  # we could not even send it: retrying cannot help
            self._record(started, failed=True)
            logger.error("platform request could not be sent", extra={"operation": operation})
            raise errors.PlatformUnavailable(
                "The loyalty platform request could not be sent.",
                operation=operation,
                reason=type(exc).__name__,
            ) from None
        except httpx.TransportError as exc:  # connect/read errors, connection reset
            self._record(started, failed=True)
            raise Technical(type(exc).__name__) from None
        status = response.status_code
        if status == 401:
            self._record(started, failed=True)
            raise Unauthorized
        if status in self.RETRY_STATUSES or status >= 500:
            self._record(started, failed=True)
            raise Technical(f"http_{status}", status=status, retry_after=retry_after(response))
        if status == expect:
            self._record(started, failed=False)
            if model is None:
                return None  # type: ignore[return-value]  # expect=204 operations return nothing
            return self._parse(operation, model, response)
        if 400 <= status < 500 and status != 403:
            self._record(started, failed=False)  # the platform worked; it said no
            raise self._refusal(operation, response)
        self._record(started, failed=True)
        logger.error(
            "platform answered an unexpected status", extra={"operation": operation, "status": status}
        )
        raise errors.PlatformUnavailable(
            "The loyalty platform answered an unexpected status.", operation=operation, status=status
        )

    def _parse[W: BaseModel](self, operation: str, model: type[W], response: httpx.Response) -> W:
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            self.malformed(operation, response.status_code, exc)

    def _refusal(self, operation: str, response: httpx.Response) -> errors.PlatformError:
        status = response.status_code
        try:
            body = ErrorOut.model_validate_json(response.content)
        except ValidationError as exc:
            self.malformed(operation, status, exc)
        logger.info("platform refused", extra={"operation": operation, "status": status, "code": body.code})
        # The platform's message may name a person: it goes in context (for admins), never
        # in ``detail``, which the storefront may show.
        context: dict[str, Any] = {
            "operation": operation,
            "status": status,
            "platform_code": body.code,
            "platform_message": body.message[:500],
        }
        match body.code:
            case "duplicate_member":
                field = body.field if body.field in ("email", "mobile") else "email"
                return errors.DuplicateMember(field=field, **context)
            case "card_not_attachable":
                return errors.CardNotAttachable("This card cannot be attached to this account.", **context)
            case "insufficient_points":
                return errors.InsufficientPoints("Not enough points.", **context)
            case "member_not_found":
                return errors.MemberNotFound("No such loyalty member.", **context)
            case "reward_not_found":
                return errors.RewardNotFound("No such reward.", **context)
            case "card_blocked":
                return errors.CardBlocked("This card is blocked.", **context)
            case "card_not_found":
                return errors.CardNotFound("No member's card has this number.", **context)
            case "card_in_use" | "card_already_replaced" | "card_merged":
                return errors.CardNotReplaceable(
                    "The card cannot be replaced as asked.", code=body.code, **context
                )
            case "card_not_in_stock":
                return errors.CardNotInStock("The new card is not in the card stock.", **context)
            case "profile_incomplete":
                return errors.ProfileIncomplete("Complete the profile to redeem points.", **context)
            case "validation_error":
                return PlatformInvalidInput(
                    "The loyalty platform refused the data.", field=body.field, **context
                )
            case _:
                # Keep the platform's own code (e.g. hold_expired) when it looks like one.
                code = body.code if _CODE.fullmatch(body.code) else None
                return errors.PlatformRefused(
                    "The loyalty platform refused the request.", code=code, **context
                )

    def malformed(self, operation: str, status: int | None, exc: ValidationError) -> NoReturn:
        # Field locations and error types only: the input values may be personal data.
        problems = [
            {"loc": ".".join(str(part) for part in error["loc"]), "type": error["type"]}
            for error in exc.errors(include_input=False, include_url=False)[:10]
        ]
        self._metrics.count(MetricName.PLATFORM_ERRORS)
        logger.error(
            "platform answered a body that does not match the contract",
            extra={"operation": operation, "status": status, "problems": problems},
        )
        raise errors.PlatformUnavailable(
            "The loyalty platform answered something unexpected.",
            operation=operation,
            status=status,
            reason="malformed_body",
        ) from None

    def _attempt_timeout(self, deadline: float) -> httpx.Timeout:
        """The configured timeouts, shortened so the last attempt ends by the deadline."""
        remaining = max(deadline - self._clock(), 0.05)
        settings = self._settings
        return httpx.Timeout(
            min(settings.platform_read_timeout_seconds, remaining),
            connect=min(settings.platform_connect_timeout_seconds, remaining),
            pool=min(settings.platform_connect_timeout_seconds, remaining),
        )

    def _backoff(self, attempt: int, retry_after: float | None) -> float | None:
        """Full jitter: uniform(0, min(cap, base * 2**(attempt-1))); at least Retry-After.
        None: the platform asked us to wait longer than we are willing to in-call."""
        settings = self._settings
        ceiling = min(
            settings.platform_backoff_max_seconds, settings.platform_backoff_base_seconds * 2 ** (attempt - 1)
        )
        delay = self._rng.uniform(0.0, ceiling)
        if retry_after is not None:
            if retry_after > settings.platform_retry_after_max_seconds:
                return None
            delay = max(delay, retry_after)
        return delay

    def _record(self, started: float, *, failed: bool) -> None:
        elapsed_ms = (self._clock() - started) * 1000.0
        self._metrics.milliseconds(MetricName.PLATFORM_LATENCY_MS, elapsed_ms)
        if failed:
            self._metrics.count(MetricName.PLATFORM_ERRORS)

    def _invalidate_token(self) -> None:
        invalidate = getattr(self._token, "invalidate", None)
        if callable(invalidate):
            invalidate()


class Unauthorized(Exception):
    """401 on one attempt (the token may have been rotated)."""


def header_key(idempotency_key: str) -> str:
    """The Idempotency-Key header for a business key: itself when it is 1-255 printable
    ASCII characters (readable in platform logs), else a digest of it. Deterministic, so
    every retry and every replay of the same business operation sends the same header."""
    if _HEADER_KEY.fullmatch(idempotency_key):
        return idempotency_key
    return "sha256:" + hashlib.sha256(idempotency_key.encode()).hexdigest()


def retry_after(response: httpx.Response) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date); None when absent or bad."""
    raw = response.headers.get("Retry-After")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        return max(float(raw), 0.0) if raw.replace(".", "", 1).isdigit() else seconds_until(raw)
    except (TypeError, ValueError, OverflowError):
        return None


def seconds_until(http_date: str) -> float:
    moment = parsedate_to_datetime(http_date)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max((moment - datetime.now(UTC)).total_seconds(), 0.0)

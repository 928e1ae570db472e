"""LoyaltyPlatform over an external platform's HTTP API (contracts/platform-openapi.yaml).

Failure policy, in one place (``RestPlatform._call``):
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
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Annotated, Any, Final, NoReturn, Protocol
from urllib.parse import quote as _quote

import httpx
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, Strict, ValidationError

from loyalty_bridge import errors
from loyalty_bridge.models.card_stock import CardImportResult, InvalidReason
from loyalty_bridge.models.domain import (
    Balance,
    Basket,
    CardKind,
    CardState,
    Consents,
    Coupon,
    CouponStatus,
    Hold,
    Member,
    MemberProfile,
    OrderResult,
    PlatformOrder,
    ProfileChanges,
    Quote,
    Reversal,
    ReversalResult,
    Reward,
    RewardKind,
)
from loyalty_bridge.models.loyalty_profile import LoyaltyProfile
from loyalty_bridge.observability import MetricName, logger
from loyalty_bridge.observability import metrics as _default_metrics
from loyalty_bridge.settings import Settings

USER_AGENT: Final = "loyalty-bridge/rest-platform"
_CODE: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")
_HEADER_KEY: Final = re.compile(r"[\x21-\x7e]{1,255}")
_MONEY: Final = re.compile(r"-?[0-9]{1,18}(\.[0-9]{1,10})?")
_REWARDS_TTL_SECONDS: Final = 300.0  # the catalogue changes rarely; the summary reads it often


class MetricsSink(Protocol):
    """The part of Powertools ``Metrics`` this adapter uses (tests pass a recorder)."""

    def add_metric(self, name: str, unit: MetricUnit, value: float) -> None: ...


class JsonSecretReader(Protocol):
    """adapters/secrets.py ``SecretsReader``."""

    def read_json_secret(self, arn_or_name: str) -> dict[str, Any]: ...

    def forget(self, arn_or_name: str | None = None) -> None: ...


class PlatformInvalidInput(errors.PlatformRefused, errors.InvalidInput):
    """The platform found the request's data invalid (``validation_error``): permanent, and
    an InvalidInput like the one the built-in ledger raises for the same input."""

    code = "validation_error"


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
        timeout=_timeout(settings),
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        follow_redirects=False,
    )


def _timeout(settings: Settings) -> httpx.Timeout:
    return httpx.Timeout(
        settings.platform_read_timeout_seconds,
        connect=settings.platform_connect_timeout_seconds,
        pool=settings.platform_connect_timeout_seconds,
    )


# ---------------------------------------------------------------- wire models (responses)
# Lenient about fields we do not know (the platform may add some), strict about types:
# points are JSON integers, money is a decimal STRING, times carry an offset.


def _money_string(value: object) -> Decimal:
    if not isinstance(value, str) or not _MONEY.fullmatch(value):
        raise ValueError("money must be a decimal string")
    return Decimal(value)


Count = Annotated[int, Strict(), Field(ge=0)]
Money = Annotated[Decimal, BeforeValidator(_money_string)]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)


class _AddressOut(_Wire):
    line1: str = ""
    line2: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = ""


class _ProfileOut(_Wire):
    email: str
    first_name: str = ""
    last_name: str = ""
    mobile: str | None = None
    birthday: date | None = None
    address: _AddressOut | None = None


class _CardOut(_Wire):
    number: str = Field(min_length=1)
    kind: CardKind
    state: CardState


class _ConsentsOut(_Wire):
    email: bool
    sms: bool


class _MemberOut(_Wire):
    member_id: str = Field(min_length=1)
    profile: _ProfileOut
    card: _CardOut
    consents: _ConsentsOut
    tier: str | None = None
    accumulate_only: bool = False
    referral_code: str | None = None


class _MemberListOut(_Wire):
    members: list[_MemberOut]


class _BalanceOut(_Wire):
    member_id: str
    balance: Count
    pending: Count = 0
    held: Count = 0
    next_expiry_points: Count = 0
    next_expiry_on: date | None = None
    tier: str | None = None
    next_tier: str | None = None
    spend_to_next_tier: Money | None = None
    lifetime_spend: Money = Decimal("0")
    accumulate_only: bool = False
    referral_code: str | None = None


class _RewardOut(_Wire):
    reward_id: str
    name: str
    points: Count
    kind: RewardKind
    value: str


class _RewardListOut(_Wire):
    rewards: list[_RewardOut]


class _CouponOut(_Wire):
    code: str = Field(min_length=1)
    member_id: str
    reward_id: str
    name: str
    kind: RewardKind
    value: str
    points: Count
    issued_at: AwareDatetime
    status: CouponStatus


class _CouponListOut(_Wire):
    coupons: list[_CouponOut]


class _InvalidCardOut(_Wire):
    number: str
    reason: InvalidReason


class _CardImportOut(_Wire):
    batch_id: str
    imported: Count
    already_known: Count
    invalid: list[_InvalidCardOut] = Field(default_factory=list)
    invalid_count: Count = 0


class _LoyaltyProfileOut(_Wire):
    member_id: str = Field(min_length=1)
    profile: _ProfileOut
    missing_fields: list[str] = Field(default_factory=list)


class _QuoteOut(_Wire):
    points_to_earn: Count
    balance: Count
    redeemable_points: Count
    point_value: Money
    max_discount: Money
    discount: Money = Decimal("0")


class _HoldOut(_Wire):
    redemption_id: str
    member_id: str
    points: Count
    discount: Money
    expires_at: AwareDatetime


class _OrderResultOut(_Wire):
    order_id: str
    points_earned: Count
    points_redeemed: Count
    balance: Count


class _ReversalResultOut(_Wire):
    points_reversed: Count
    points_returned: Count = 0
    shortfall: Count = 0
    balance: Count


class _ErrorOut(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    code: str = Field(min_length=1, max_length=100)
    message: str = ""
    field: str | None = None


# ---------------------------------------------------------------- the adapter


class _Technical(Exception):
    """One failed attempt that retrying may fix."""

    def __init__(self, reason: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


def _seg(value: str) -> str:
    """A path segment, escaped (ids and card numbers come from outside)."""
    return _quote(value, safe="")


def _dump(model: BaseModel, **kwargs: Any) -> Any:
    return model.model_dump(mode="json", **kwargs)


class RestPlatform:
    """``ports.LoyaltyPlatform`` over HTTP. One instance per warm container (thread-safe:
    httpx.Client is, and the adapter keeps no per-call state)."""

    def __init__(
        self,
        http: httpx.Client,
        base_url: str,
        token_provider: Callable[[], str],
        settings: Settings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        metrics: MetricsSink = _default_metrics,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if not base_url:
            raise PlatformNotConfigured("PLATFORM_BASE_URL is not set")
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._token = token_provider
        self._settings = settings
        self._sleep = sleep
        self._rng = rng or random.SystemRandom()
        self._metrics = metrics
        self._clock = clock
        self._rewards: tuple[float, list[Reward]] | None = None  # (read at, catalogue)

    # ------------------------------------------------------------ members

    def create_member(
        self,
        profile: MemberProfile,
        consents: Consents,
        *,
        idempotency_key: str,
        referral_code: str | None = None,
    ) -> Member:
        body: dict[str, Any] = {"profile": _dump(profile, exclude_none=True), "consents": _dump(consents)}
        if referral_code:
            body["referral_code"] = referral_code
        wire = self._call(
            "createMember",
            "POST",
            "/v1/members",
            _MemberOut,
            expect=201,
            body=body,
            idempotency_key=idempotency_key,
        )
        return self._member(wire)

    def get_member(self, member_id: str) -> Member:
        wire = self._call("getMember", "GET", f"/v1/members/{_seg(member_id)}", _MemberOut)
        return self._member(wire)

    def find_members(
        self, *, card_number: str | None = None, email: str | None = None, mobile: str | None = None
    ) -> list[Member]:
        criteria = {
            key: value
            for key, value in (("card_number", card_number), ("email", email), ("mobile", mobile))
            if value is not None
        }
        if not criteria:
            raise errors.InvalidInput("give a card number, an email or a mobile")
        wire = self._call("searchMembers", "POST", "/v1/members/search", _MemberListOut, body=criteria)
        return [self._member(item) for item in wire.members]

    def attach_card(self, card_number: str, profile: MemberProfile, *, idempotency_key: str) -> Member:
        wire = self._call(
            "attachCard",
            "POST",
            f"/v1/cards/{_seg(card_number)}/attach",
            _MemberOut,
            body={"profile": _dump(profile, exclude_none=True)},
            idempotency_key=idempotency_key,
        )
        return self._member(wire)

    def merge_cards(self, primary_card: str, cards: Sequence[str], *, idempotency_key: str) -> Member:
        wire = self._call(
            "mergeCards",
            "POST",
            f"/v1/cards/{_seg(primary_card)}/merge",
            _MemberOut,
            body={"cards": list(cards)},
            idempotency_key=idempotency_key,
        )
        return self._member(wire)

    def get_balance(self, member_id: str) -> Balance:
        wire = self._call("getBalance", "GET", f"/v1/members/{_seg(member_id)}/balance", _BalanceOut)
        return self._convert(Balance, wire, "getBalance")

    def update_profile(self, member_id: str, changes: ProfileChanges, *, idempotency_key: str) -> Member:
        patch = _dump(changes, exclude_none=True)
        if not patch:  # nothing to change: the contract wants at least one field
            return self.get_member(member_id)
        wire = self._call(
            "updateMember",
            "PATCH",
            f"/v1/members/{_seg(member_id)}",
            _MemberOut,
            body=patch,
            idempotency_key=idempotency_key,
        )
        return self._member(wire)

    def set_consents(self, member_id: str, consents: Consents, *, idempotency_key: str) -> None:
        self._call(
            "setConsents",
            "PUT",
            f"/v1/members/{_seg(member_id)}/consents",
            None,
            expect=204,
            body=_dump(consents),
            idempotency_key=idempotency_key,
        )

    # ------------------------------------------------------------ checkout and orders

    def quote(self, member_id: str | None, basket: Basket, *, redeem_points: int = 0) -> Quote:
        if redeem_points < 0:
            raise errors.InvalidInput("redeem_points must not be negative")
        wire = self._call(
            "quoteBasket",
            "POST",
            "/v1/quotes",
            _QuoteOut,
            body={"member_id": member_id, "basket": _dump(basket), "redeem_points": redeem_points},
        )
        return self._convert(Quote, wire, "quoteBasket")

    def hold_points(
        self, member_id: str, redemption_id: str, points: int, *, order_total: Any, expires_at: datetime
    ) -> Hold:
        if points <= 0:
            raise errors.InvalidInput("points to hold must be positive")
        body = {
            "redemption_id": redemption_id,
            "points": points,
            "order_total": str(Decimal(str(order_total))),
            "expires_at": expires_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        }
        wire = self._call(
            "createHold",
            "POST",
            f"/v1/members/{_seg(member_id)}/holds",
            _HoldOut,
            expect=201,
            body=body,
            idempotency_key=f"hold:{redemption_id}",
        )
        return self._convert(Hold, wire, "createHold")

    def release_hold(self, member_id: str, redemption_id: str) -> None:
        self._call(
            "releaseHold",
            "DELETE",
            f"/v1/members/{_seg(member_id)}/holds/{_seg(redemption_id)}",
            None,
            expect=204,
            idempotency_key=f"release:{redemption_id}",
        )

    def post_order(self, member_id: str, order: PlatformOrder) -> OrderResult:
        wire = self._call(
            "postOrder",
            "POST",
            f"/v1/members/{_seg(member_id)}/orders",
            _OrderResultOut,
            body=_dump(order),
            idempotency_key=f"order:{order.order_id}",
        )
        return self._convert(OrderResult, wire, "postOrder")

    def reverse(self, member_id: str, reversal: Reversal) -> ReversalResult:
        body = {
            "reversal_id": reversal.reversal_id,
            "lines": [{"sku": sku, "quantity": quantity} for sku, quantity in reversal.lines],
            "cancel": reversal.cancel,
        }
        wire = self._call(
            "reverseOrder",
            "POST",
            f"/v1/members/{_seg(member_id)}/orders/{_seg(reversal.order_id)}/reversals",
            _ReversalResultOut,
            body=body,
            idempotency_key=reversal.key,  # refund ids are only unique within their order
        )
        return self._convert(ReversalResult, wire, "reverseOrder")

    # ------------------------------------------------------------ rewards (R4)

    def rewards(self) -> list[Reward]:
        """The platform's catalogue, cached for a few minutes (the login summary's
        ``next_reward`` reads it; it changes rarely)."""
        cached = self._rewards
        if cached is not None and self._clock() - cached[0] < _REWARDS_TTL_SECONDS:
            return list(cached[1])
        wire = self._call("listRewards", "GET", "/v1/rewards", _RewardListOut)
        catalogue = sorted(
            (self._convert(Reward, item, "listRewards") for item in wire.rewards),
            key=lambda reward: (reward.points, reward.reward_id),
        )
        self._rewards = (self._clock(), catalogue)
        return list(catalogue)

    def redeem_reward(self, member_id: str, reward_id: str, *, idempotency_key: str) -> Coupon:
        wire = self._call(
            "redeemReward",
            "POST",
            f"/v1/members/{_seg(member_id)}/rewards/{_seg(reward_id)}/redeem",
            _CouponOut,
            expect=201,
            idempotency_key=f"reward:{idempotency_key}",
        )
        return self._convert(Coupon, wire, "redeemReward")

    def coupons(self, member_id: str) -> list[Coupon]:
        wire = self._call("listCoupons", "GET", f"/v1/members/{_seg(member_id)}/coupons", _CouponListOut)
        return [self._convert(Coupon, item, "listCoupons") for item in wire.coupons]

    # ------------------------------------------------------------ card stock, profile read

    def import_cards(self, batch_id: str, numbers: Sequence[str]) -> CardImportResult:
        """Import is idempotent by number on the platform, so each call gets its own key:
        its retries are one write, and a later import of the same batch answers what it
        finds then (everything ``already_known``) rather than the first import's counts."""
        wire = self._call(
            "importCards",
            "POST",
            "/v1/cards/import",
            _CardImportOut,
            body={"batch_id": batch_id, "cards": list(numbers)},
            idempotency_key=f"cards:{batch_id}:{uuid.uuid4().hex}",
        )
        return self._convert(CardImportResult, wire, "importCards")

    def member_profile(self, member_id: str) -> LoyaltyProfile:
        wire = self._call(
            "getMemberProfile", "GET", f"/v1/members/{_seg(member_id)}/profile", _LoyaltyProfileOut
        )
        return self._convert(LoyaltyProfile, wire, "getMemberProfile")

    # ------------------------------------------------------------ transport

    def _call[W: BaseModel](
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
            except _Unauthorized:
                if token_refreshed or attempt >= max_attempts:
                    logger.error("platform rejected our credentials", extra={"operation": operation})
                    raise errors.PlatformUnavailable(
                        "The loyalty platform rejected our credentials.", operation=operation, status=401
                    ) from None
                token_refreshed = True
                self._invalidate_token()
                continue
            except _Technical as failure:
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
        request_headers = {**headers, "Authorization": f"Bearer {self._token()}"}
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
            raise _Technical(type(exc).__name__) from None
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
            raise _Technical(type(exc).__name__) from None
        status = response.status_code
        if status == 401:
            self._record(started, failed=True)
            raise _Unauthorized
        if status in (408, 429) or status >= 500:
            self._record(started, failed=True)
            raise _Technical(f"http_{status}", status=status, retry_after=_retry_after(response))
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
            self._malformed(operation, response.status_code, exc)

    def _refusal(self, operation: str, response: httpx.Response) -> errors.PlatformError:
        status = response.status_code
        try:
            body = _ErrorOut.model_validate_json(response.content)
        except ValidationError as exc:
            self._malformed(operation, status, exc)
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

    def _malformed(self, operation: str, status: int | None, exc: ValidationError) -> NoReturn:
        # Field locations and error types only: the input values may be personal data.
        problems = [
            {"loc": ".".join(str(part) for part in error["loc"]), "type": error["type"]}
            for error in exc.errors(include_input=False, include_url=False)[:10]
        ]
        self._metrics.add_metric(name=MetricName.PLATFORM_ERRORS, unit=MetricUnit.Count, value=1)
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

    def _member(self, wire: _MemberOut) -> Member:
        return self._convert(Member, wire, "member")

    def _convert[D: BaseModel](self, domain: type[D], wire: BaseModel, operation: str) -> D:
        """Wire -> domain (the domain model re-checks its own rules, e.g. field lengths)."""
        try:
            return domain.model_validate(wire.model_dump())
        except ValidationError as exc:
            self._malformed(operation, None, exc)

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
        self._metrics.add_metric(
            name=MetricName.PLATFORM_LATENCY_MS, unit=MetricUnit.Milliseconds, value=elapsed_ms
        )
        if failed:
            self._metrics.add_metric(name=MetricName.PLATFORM_ERRORS, unit=MetricUnit.Count, value=1)

    def _invalidate_token(self) -> None:
        invalidate = getattr(self._token, "invalidate", None)
        if callable(invalidate):
            invalidate()


class _Unauthorized(Exception):
    """401 on one attempt (the token may have been rotated)."""


def header_key(idempotency_key: str) -> str:
    """The Idempotency-Key header for a business key: itself when it is 1-255 printable
    ASCII characters (readable in platform logs), else a digest of it. Deterministic, so
    every retry and every replay of the same business operation sends the same header."""
    if _HEADER_KEY.fullmatch(idempotency_key):
        return idempotency_key
    return "sha256:" + hashlib.sha256(idempotency_key.encode()).hexdigest()


def _retry_after(response: httpx.Response) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date); None when absent or bad."""
    raw = response.headers.get("Retry-After")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        return max(float(raw), 0.0) if raw.replace(".", "", 1).isdigit() else _seconds_until(raw)
    except (TypeError, ValueError, OverflowError):
        return None


def _seconds_until(http_date: str) -> float:
    moment = parsedate_to_datetime(http_date)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max((moment - datetime.now(UTC)).total_seconds(), 0.0)

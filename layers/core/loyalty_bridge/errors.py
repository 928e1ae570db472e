"""Domain errors. HTTP mapping lives in http_errors.py; worker retry/notify decisions in
``failure_policy`` below. Never choose behaviour by matching error text: match types/codes.
"""

from __future__ import annotations

from typing import Any


class BridgeError(Exception):
    """Base of every error the bridge raises on purpose."""

    code: str = "bridge_error"

    def __init__(self, detail: str = "", *, code: str | None = None, **context: Any) -> None:
        super().__init__(detail or self.__class__.__name__)
        self.detail = detail or self.__class__.__name__
        if code:
            self.code = code
        self.context = context


class InvalidInput(BridgeError):
    """Input from outside failed validation (422)."""

    code = "validation_failed"

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None, **context: Any) -> None:
        super().__init__(detail, **context)
        self.errors = errors or []


class NotFound(BridgeError):
    code = "not_found"


class Conflict(BridgeError):
    code = "conflict"


class Refused(BridgeError):
    """A business rule says no (the customer or platform can fix it; not retryable)."""

    code = "refused"


class TooManyRequests(BridgeError):
    code = "rate_limited"

    def __init__(self, detail: str = "Too many attempts", *, retry_after: int = 60, **context: Any) -> None:
        super().__init__(detail, **context)
        self.retry_after = retry_after


class Unauthorized(BridgeError):
    code = "unauthorized"


class Forbidden(BridgeError):
    code = "forbidden"


class Retryable(BridgeError):
    """Technical failure (timeout, 5xx, throttling): try again later."""

    code = "temporarily_unavailable"


class Permanent(BridgeError):
    """A failure that retrying cannot fix: record it, tell a human."""

    code = "permanent_failure"


# ---- Loyalty platform errors (raised by every platform adapter) -----------------------


class PlatformError(BridgeError):
    code = "platform_error"


class PlatformUnavailable(PlatformError, Retryable):
    """The platform timed out, answered 5xx / throttled, or answered something malformed."""

    code = "platform_unavailable"


class PlatformRefused(PlatformError, Refused):
    """The platform validated the request and said no (permanent)."""

    code = "platform_refused"


class NotSupportedByPlatform(PlatformRefused):
    """The platform in use does not offer this (e.g. member import on a REST platform)."""

    code = "not_supported_by_platform"


class CurrencyNotSupported(PlatformRefused):
    """R10: an amount in a currency the program neither uses nor lists a rate for."""

    code = "currency_not_supported"


class DuplicateMember(PlatformRefused):
    """Email or mobile already belongs to another loyalty account."""

    code = "duplicate_member"

    def __init__(self, detail: str = "", *, field: str = "email", **context: Any) -> None:
        super().__init__(detail or f"{field} already used by another loyalty account", **context)
        self.field = field


class CardNotAttachable(PlatformRefused):
    """Wrong card, wrong email, blocked card, or already linked. Deliberately one type."""

    code = "card_not_attachable"


class InsufficientPoints(PlatformRefused, Conflict):
    code = "insufficient_points"


class MemberNotFound(PlatformRefused, NotFound):
    code = "member_not_found"


class ProfileIncomplete(PlatformRefused):
    """A9: the member is accumulate-only (required profile fields missing): points accrue
    but cannot be redeemed until the profile is complete."""

    code = "profile_incomplete"


class RewardNotFound(NotFound, PlatformRefused):
    """R4: no reward with this id in the program's catalogue (a 404: NotFound first)."""

    code = "reward_not_found"


class CardBlocked(PlatformRefused, Conflict):
    """A10: the card is blocked (lost or stolen): it earns and spends nothing until the
    member's card is replaced. A 409: the same request succeeds once the state changes."""

    code = "card_blocked"


class CardNotFound(NotFound, PlatformRefused):
    """A10 (admin): no member's card has this number (or it is stock never registered)."""

    code = "card_not_found"


class CardNotReplaceable(PlatformRefused, Conflict):
    """A10 (admin): the replacement cannot be made as asked: the new number belongs to
    another member (``card_in_use``), the card was replaced by another number already
    (``card_already_replaced``) or merged into another card (``card_merged``). A 409."""

    code = "card_in_use"


class CardNotInStock(PlatformRefused):
    """A10 (admin): a replacement card must be an unregistered card of the stock (import it
    first, POST /v1/admin/cards/import). A 422."""

    code = "card_not_in_stock"


# ---- Stores and staff (R6) ------------------------------------------------------------


class UnknownStore(InvalidInput):
    """Stores are registered and this one is not (an order, quote, adjustment or staff user
    naming it is refused and changes nothing)."""

    code = "unknown_store"


class UnknownStaff(InvalidInput):
    """Stores are registered and this staff user is not, or works at another store."""

    code = "unknown_staff"


# ---- The program as data (R9) ----------------------------------------------------------


class ProgramKindLocked(Conflict):
    """The program's kind (points or discount) cannot change once any member exists."""

    code = "program_kind_locked"


class RecordExists(Exception):
    """A write that creates the bridge's record of a change found one there already (not
    a BridgeError: the caller always catches it and goes the way of a known change)."""


def is_retryable(exc: BaseException) -> bool:
    """Worker policy in one place: retry technical failures, record permanent ones."""
    if isinstance(exc, Retryable):
        return True
    # Unknown exceptions (bugs, unexpected SDK errors) are retried: the queue's redrive
    # policy moves a poisoned message to the DLQ, where it is recorded and emailed.
    return not isinstance(exc, BridgeError)

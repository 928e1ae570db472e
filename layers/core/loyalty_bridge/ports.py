"""Ports: what services need from the outside world, as Protocols.

Adapters (adapters/) implement them over DynamoDB, SQS, SES, SNS, httpx; unit tests use
in-memory fakes (tests/fakes.py). Services depend only on these.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from loyalty_bridge.models.domain import (
    Balance,
    Basket,
    Consents,
    Hold,
    Member,
    MemberProfile,
    OrderResult,
    PlatformOrder,
    ProfileChanges,
    Quote,
    Reversal,
    ReversalResult,
)
from loyalty_bridge.models.records import CustomerRecord, ErrorRecord


class LoyaltyPlatform(Protocol):
    """The loyalty platform. Implemented by the built-in DynamoDB ledger and the REST adapter.

    Every write takes a business ``idempotency_key`` (order, refund, redemption, request id):
    repeating a call with the same key changes nothing and answers like the first time.
    Errors: loyalty_bridge.errors PlatformRefused subclasses (permanent) and
    PlatformUnavailable (retryable).
    """

    def create_member(self, profile: MemberProfile, consents: Consents, *, idempotency_key: str) -> Member: ...

    def get_member(self, member_id: str) -> Member: ...

    def find_members(
        self, *, card_number: str | None = None, email: str | None = None, mobile: str | None = None
    ) -> list[Member]: ...

    def attach_card(
        self, card_number: str, profile: MemberProfile, *, idempotency_key: str
    ) -> Member:
        """Attach an existing card to a person (A4 ownership rule: the card account's email
        must match; an unregistered physical card takes ``profile``). CardNotAttachable
        otherwise, whatever the reason."""
        ...

    def merge_cards(self, primary_card: str, cards: Sequence[str], *, idempotency_key: str) -> Member:
        """A8: block ``cards`` and move their points to ``primary_card`` in one atomic step."""
        ...

    def get_balance(self, member_id: str) -> Balance: ...

    def update_profile(self, member_id: str, changes: ProfileChanges, *, idempotency_key: str) -> Member: ...

    def set_consents(self, member_id: str, consents: Consents, *, idempotency_key: str) -> None: ...

    def quote(self, member_id: str | None, basket: Basket, *, redeem_points: int = 0) -> Quote: ...

    def hold_points(
        self, member_id: str, redemption_id: str, points: int, *, order_total: Any, expires_at: datetime
    ) -> Hold: ...

    def release_hold(self, member_id: str, redemption_id: str) -> None: ...

    def post_order(self, member_id: str, order: PlatformOrder) -> OrderResult:
        """Credit the order's points (R1 rules) and capture its hold; keyed by order_id."""
        ...

    def reverse(self, member_id: str, reversal: Reversal) -> ReversalResult: ...


class CustomerRepository(Protocol):
    """The bridge's own record of each web customer and their loyalty link."""

    def get(self, customer_id: str) -> CustomerRecord | None: ...

    def create(self, record: CustomerRecord) -> bool:
        """Store a new customer; False if one with that id exists already."""
        ...

    def save(self, record: CustomerRecord, *, expected_version: int) -> CustomerRecord:
        """Optimistic update: Conflict if the stored version is not ``expected_version``."""
        ...

    def link_member(self, customer_id: str, member_id: str, card_number: str) -> None:
        """A5: claim member and card for this customer; Conflict if another holds them."""
        ...


class MessageQueue(Protocol):
    def send(self, body: str, *, group_id: str | None = None, dedup_id: str | None = None,
             delay_seconds: int = 0) -> None: ...


class Mailer(Protocol):
    def send(self, *, to: Sequence[str], subject: str, text: str, html: str | None = None) -> str:
        """Send one email; returns the provider's message id."""
        ...


class SmsSender(Protocol):
    def send(self, *, to: str, text: str) -> str: ...


class ErrorStore(Protocol):
    """Failures that need a human (PRODUCT.md, four categories), listable and replayable."""

    def record(self, record: ErrorRecord) -> bool:
        """Store once per ``record.error_id``; False when it was already recorded (so the
        caller does not email again)."""
        ...

    def get(self, error_id: str) -> ErrorRecord | None: ...

    def list(self, *, category: str | None, status: str | None, limit: int,
             cursor: str | None) -> tuple[list[ErrorRecord], str | None]: ...

    def set_status(self, error_id: str, status: str, *, note: str = "") -> ErrorRecord: ...

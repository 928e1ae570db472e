"""Bodies of the data-rights routes (D1 export, GDPR Art. 15; D2 erasure, Art. 17).

The export is everything the bridge holds about one customer, in one document: the web
record (with its recent changes, consents among them), the loyalty account (member, card,
balance, coupons, history), the orders and their refunds, the sync state per target, the
error records, and the verification attempts (never a code or its hash). The erasure
record is what stays after an erasure: who, when, why and what was done (or is left to do
by hand), without any personal data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from loyalty_bridge.models.activity import ActivityEntry
from loyalty_bridge.models.api_types import Trim
from loyalty_bridge.models.checkout_records import OrderRecord
from loyalty_bridge.models.domain import Balance, Coupon, Member
from loyalty_bridge.models.records import CustomerRecord, ErrorRecord, SyncState

ErasureId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")]
StepOutcome = Literal["done", "nothing_held", "by_hand"]


class VerificationAttempt(BaseModel):
    """A one-time-code challenge (A4 attach by email, A7 phone) as the customer may see it."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    purpose: str
    created_at: datetime
    expires_at: datetime
    tries_left: int
    card_number: str | None = None
    mobile: str | None = None
    refused: bool = Field(description="the attach or phone check was going to be refused")


class AttemptWindow(BaseModel):
    """How many attempts (attach, phone codes) one window counted (rate limits)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    kind: str = Field(description="e.g. attach:customer, phone:customer")
    window_start: datetime
    count: int


class LoyaltyExport(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    member: Member
    balance: Balance
    coupons: list[Coupon] = Field(default_factory=list)
    history: list[ActivityEntry] = Field(default_factory=list, description="every entry, newest first")
    history_available: bool = True


class CustomerExport(BaseModel):
    """``GET /v1/admin/customers/{customer_id}/export``."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    customer_id: str
    exported_at: datetime
    web_record: CustomerRecord = Field(description="the bridge's record, with its recent changes")
    loyalty: LoyaltyExport | None = Field(default=None, description="none while not joined")
    orders: list[OrderRecord] = Field(default_factory=list, description="with their refunds and cancels")
    sync_state: list[SyncState] = Field(default_factory=list)
    errors: list[ErrorRecord] = Field(default_factory=list)
    verification: list[VerificationAttempt] = Field(default_factory=list)
    attempts: list[AttemptWindow] = Field(default_factory=list)


class EraseRequest(BaseModel):
    """``POST /v1/admin/customers/{customer_id}/erase``."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    erasure_id: ErasureId
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=r"\S"), Trim]


class ErasureStep(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    target: str = Field(description="bridge, errors, idempotency, verification, platform, mailchimp")
    outcome: StepOutcome
    detail: str = ""


class ErasureRecord(BaseModel):
    """What stays after an erasure (and the answer to it, and to a repeat of it)."""

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    erasure_id: str
    customer_id: str
    status: Literal["erased"] = "erased"
    reason: str
    requested_by: str = Field(description="the admin key id")
    erased_at: datetime
    pseudonym: str = Field(description="what the money trail (orders) is kept under")
    member_id: str | None = Field(default=None, description="the loyalty account, kept without the person")
    steps: list[ErasureStep] = Field(default_factory=list)
    by_hand: list[str] = Field(default_factory=list, description="what an admin must still erase")

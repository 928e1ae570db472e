"""Records the bridge stores about customers and failures (its own tables)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from loyalty_bridge.models.domain import Address, Consents, LoyaltyStatus


def utcnow() -> datetime:
    return datetime.now(UTC)


MAX_CHANGE_NOTES = 50  # the record keeps its newest changes (D1: the export lists them)


class ChangeNote(BaseModel):
    """One saved change of the synced fields (D1, "consents and their changes"): which
    fields, from where, and the consents after it when they changed. No values of the
    other fields: the record holds the current ones."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    version: int
    at: datetime
    kind: str  # profile.update | consents.update
    source: str  # web | mailchimp | phone
    fields: list[str]
    consents: Consents | None = None


class CustomerRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    customer_id: str
    email: str
    first_name: str = ""
    last_name: str = ""
    mobile: str | None = None
    birthday: date | None = None
    address: Address | None = None
    consents: Consents = Consents()
    status: LoyaltyStatus = LoyaltyStatus.NOT_JOINED
    status_reason: str | None = None  # why not joined (e.g. duplicate_email, platform_unavailable)
    member_id: str | None = None
    card_number: str | None = None
    card_kind: str | None = None
    card_state: str | None = None  # A10: "blocked" while the card is blocked (None: active)
    # Membership flows: an attach waiting for its emailed code (status verifying) lapses at
    # this time; terms_accepted_at is when the customer consented by phone code (A7).
    verifying_until: datetime | None = None
    terms_accepted_at: datetime | None = None
    referral_code: str | None = None  # R5: the code this customer signed up with, if any
    # The account creation sent or queued under the customer's own idempotency key whose
    # outcome is not known yet ({"key", "profile", "consents"}): the platform may have made
    # the account, so every later create for this customer sends exactly this under that
    # key until the customer joins or the platform refuses it.
    pending_create: dict[str, Any] | None = None
    changes: list[ChangeNote] = Field(default_factory=list)  # the newest MAX_CHANGE_NOTES, oldest first
    version: int = 0  # bumped on every write (optimistic locking, stale-message checks)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ErrorCategory(StrEnum):
    NEW_ACCOUNT = "new_account_registration"
    ATTACH_ACCOUNT = "attach_existing_account_registration"
    ACCOUNT_UPDATE = "account_update"
    NEW_ORDER = "new_order"

    @property
    def label(self) -> str:
        return {
            "new_account_registration": "New Account Registration Errors",
            "attach_existing_account_registration": "Attach Existing Account Registration Errors",
            "account_update": "Account Update Errors",
            "new_order": "New Order Errors",
        }[self.value]


# What an admin can do about each category, for every record whose creator has nothing more
# precise to say. The one source of a record's ``action``: ErrorRecord fills it in when it is
# created (or read back), so the listing, the single read and the email show the same text.
DEFAULT_ACTION: dict[ErrorCategory, str] = {
    ErrorCategory.NEW_ACCOUNT: (
        "Check the customer's details against the loyalty platform (for example an email or "
        "mobile already used by another loyalty account), fix them there or in the storefront, "
        "then replay this error."
    ),
    ErrorCategory.ATTACH_ACCOUNT: (
        "Check the card and the customer's email on the loyalty platform; correct the card "
        "account if it is wrong, then replay this error."
    ),
    ErrorCategory.ACCOUNT_UPDATE: (
        "Compare the change below with the loyalty platform (and Mailchimp). Fix the conflicting "
        "data by hand, then replay this error so the change is applied."
    ),
    ErrorCategory.NEW_ORDER: (
        "Check the order on the loyalty platform; fix what it refused (member, products, "
        "amounts), then replay this error. Replays never award points twice."
    ),
}


class ErrorStatus(StrEnum):
    OPEN = "open"
    REPLAYING = "replaying"
    RESOLVED = "resolved"


class ErrorRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    error_id: str  # deterministic per failure (e.g. category + business key) so it is stored once
    category: ErrorCategory
    status: ErrorStatus = ErrorStatus.OPEN
    customer_id: str | None = None
    subject_id: str | None = None  # order id, change id, ...
    attempted: str  # what was attempted, in words
    platform_answer: str = ""  # what the platform said (code + message), no personal data
    # What the admin should do: the creator's own words, else DEFAULT_ACTION of the category.
    action: str = Field(default="", validate_default=True)
    change_before: dict[str, Any] | None = None
    change_after: dict[str, Any] | None = None
    replay: dict[str, Any] = Field(default_factory=dict)  # the queue message to send again
    attempts: int = 1
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    note: str = ""
    notified_at: datetime | None = None  # when the admins were emailed (at most once)

    @field_validator("action")
    @classmethod
    def _action_or_default(cls, value: str, info: ValidationInfo) -> str:
        category = info.data.get("category")
        if value.strip() or not isinstance(category, ErrorCategory):
            return value
        return DEFAULT_ACTION[category]


class SyncState(BaseModel):
    """What the profile sync already applied to one target (platform, mailchimp, sms) for
    one customer: per field, the customer-record version last applied (stale and repeated
    changes are skipped), plus facts the target knows (e.g. the email Mailchimp has)."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    customer_id: str
    target: str
    versions: dict[str, int] = Field(default_factory=dict)
    facts: dict[str, str] = Field(default_factory=dict)

    def fresh(self, field: str, version: int) -> bool:
        return self.versions.get(field, -1) < version

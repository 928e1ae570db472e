"""Queue message contracts. Every message is an Envelope; ``kind`` names the payload model,
``v`` its schema version. Consumers validate both and reject (record) what they do not know.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from loyalty_bridge.models.domain import Address
from loyalty_bridge.models.records import utcnow


class Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    v: int = Field(default=1, ge=1)
    kind: str = Field(min_length=1, max_length=64)  # e.g. "membership.create", "profile.update"
    message_id: str = Field(min_length=1, max_length=128)  # business key: dedup and error ids
    customer_id: str | None = Field(default=None, max_length=128)
    version: int | None = None  # the customer record version that produced it (stale checks)
    sent_at: datetime = Field(default_factory=utcnow)
    replay_of: str | None = None  # error_id when an admin replays a failure
    payload: dict[str, Any] = Field(default_factory=dict)


# ---------------------------------------------------------------- profile sync (P1-P5)

PROFILE_UPDATE = "profile.update"  # PATCH /v1/customers/{id}: profile fields changed
CONSENTS_UPDATE = "consents.update"  # PUT .../consents or a Mailchimp unsubscribe: consents changed
PROFILE_SNAPSHOT = "profile.snapshot"  # push the whole current record (joined, created, resync)
PROFILE_SYNC_KINDS = frozenset({PROFILE_UPDATE, CONSENTS_UPDATE, PROFILE_SNAPSHOT})
LOYALTY_DATA = "loyalty.data"  # P6: the member's points moved: refresh Mailchimp's loyalty merge fields


class SyncedFields(BaseModel):
    """The values of the fields a change touched (only the fields set are part of it)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    email: str | None = Field(default=None, max_length=254)
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    mobile: str | None = Field(default=None, max_length=20)
    birthday: date | None = None
    address: Address | None = None
    consent_email: bool | None = None
    consent_sms: bool | None = None


class ProfileChange(BaseModel):
    """Payload of profile.update / consents.update (Envelope.version = the record version
    that made the change) and profile.snapshot (``reason`` only; the worker reads the record)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    before: SyncedFields = SyncedFields()
    after: SyncedFields = SyncedFields()
    source: str = Field(default="web", max_length=32)  # web | mailchimp | membership | admin
    reason: str = Field(default="", max_length=64)
    # The loyalty member the record named when the change was saved: only what the worker
    # reads ahead with the record (services/profile_sync.py); it acts on the record's own.
    member_id: str | None = Field(default=None, min_length=1, max_length=128)
    # A snapshot's targets, when it is not for every one (the signup's: services/signup.py);
    # the worker reads nothing for a snapshot none of whose targets it has.
    targets: tuple[Literal["platform", "mailchimp", "sms"], ...] | None = Field(default=None, max_length=3)

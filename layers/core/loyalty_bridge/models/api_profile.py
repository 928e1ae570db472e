"""Request and response bodies of the profile routes (API.md: PATCH /v1/customers/{id},
PUT /v1/customers/{id}/consents) and of the Mailchimp webhook (P5)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints, model_validator

from loyalty_bridge import errors
from loyalty_bridge.models.api_types import Email, Mobile, Name, at_least_one_field_none_null
from loyalty_bridge.models.domain import Address
from loyalty_bridge.models.messages import SyncedFields
from loyalty_bridge.models.records import utcnow

SyncResult = Literal["queued", "unchanged", "deferred"]


class UpdateProfile(BaseModel):
    """PATCH /v1/customers/{customer_id}: only the fields sent change (P1). A field cannot
    be removed (null) here; send a new value."""

    # The schema says what _check enforces: at least one field, none of them null.
    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_extra=at_least_one_field_none_null, defer_build=True
    )

    first_name: Name | None = None
    last_name: Name | None = None
    email: Email | None = None
    mobile: Mobile | None = None
    birthday: date | None = None
    address: Address | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("send at least one of first_name, last_name, email, mobile, birthday, address")
        nulls = sorted(name for name in self.model_fields_set if getattr(self, name) is None)
        if nulls:
            raise ValueError(f"these fields cannot be null: {', '.join(nulls)}")
        return self

    def as_fields(self) -> SyncedFields:
        """The changes; a birthday outside 1900-01-01..today is a 422 ``invalid_birthday``
        (a rule about today's date, which no schema can state)."""
        if self.birthday is not None and not (date(1900, 1, 1) <= self.birthday <= utcnow().date()):
            raise errors.InvalidInput(
                "The birthday must be a past date after 1900-01-01.",
                code="invalid_birthday",
                errors=[{"field": "birthday", "message": "not a past date after 1900-01-01"}],
            )
        return SyncedFields(**{name: getattr(self, name) for name in self.model_fields_set})


class SetConsents(BaseModel):
    """PUT /v1/customers/{customer_id}/consents (P3): the customer's choices, both given."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    email: StrictBool
    sms: StrictBool


class SyncAccepted(BaseModel):
    """202: the web change is saved; ``sync`` says whether the change was queued for the
    platform, Mailchimp and SMS (``unchanged``: nothing differed; ``deferred``: the queue
    was unavailable and the change is in the admin error list for replay)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    sync: SyncResult
    version: int = Field(description="the customer record version after the change")


# ---------------------------------------------------------------- Mailchimp webhook (P5)

WebhookType = Literal["subscribe", "unsubscribe", "profile", "cleaned", "upemail", "campaign"]
_Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=254)]


class MailchimpWebhookData(BaseModel):
    """``data[...]`` of a Mailchimp audience webhook (form-encoded, flattened here)."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    list_id: _Text = ""
    email: _Text = ""
    new_email: _Text = ""
    old_email: _Text = ""
    action: _Text = ""  # unsubscribe: "unsub" or "delete"
    reason: _Text = ""  # unsubscribe: "manual", "abuse"...; cleaned: "hard", "abuse"


class MailchimpWebhook(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    type: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
    fired_at: _Text = ""
    data: MailchimpWebhookData = MailchimpWebhookData()

    @classmethod
    def from_form(cls, form: dict[str, list[str]]) -> MailchimpWebhook:
        """``type=unsubscribe&data[email]=...`` -> model (nested ``data[merges][...]`` ignored)."""
        flat: dict[str, Any] = {}
        data: dict[str, str] = {}
        for key, values in form.items():
            value = values[-1] if values else ""
            if key.startswith("data[") and key.endswith("]") and key.count("[") == 1:
                data[key[5:-1]] = value
            elif "[" not in key:
                flat[key] = value
        flat["data"] = data
        return cls.model_validate(flat)


class WebhookAnswer(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    result: Literal["applied", "ignored", "unchanged"]

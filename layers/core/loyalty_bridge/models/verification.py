"""One-time codes that prove a customer owns a card's email (A4) or a mobile (A7).

Only a keyed hash of the code is stored; the code itself exists in the message sent to the
customer and nowhere else.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from loyalty_bridge.models.records import utcnow


class Purpose(StrEnum):
    ATTACH = "attach"  # emailed 6-digit code: attach an existing card
    PHONE = "phone"  # SMS 4-digit code: join or attach by mobile
    PHONE_VERIFIED = "phone_verified"  # mobile proven; the customer picks a primary card (A8)


class Challenge(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    customer_id: str
    purpose: Purpose
    code_hash: str = ""
    expires_at: datetime
    tries_left: int = Field(default=5, ge=0)
    card_number: str | None = None
    member_id: str | None = None
    mobile: str | None = None
    member_ids: list[str] = Field(default_factory=list)  # PHONE_VERIFIED: the accounts on that phone
    # ATTACH: why the attach will be refused, known when the code was sent. The code is sent
    # anyway, so the reply to starting an attach never tells whether a card exists (A4).
    refusal: str | None = None
    # ATTACH: the refusal's code when the customer may be told it after the right code:
    # "card_blocked" (A10) when the code went to the blocked card's own email.
    refusal_code: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class AttemptCount(BaseModel):
    """A fixed-window attempt counter (rate limits per customer, card, mobile)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    count: int
    retry_after: int  # seconds until the window ends

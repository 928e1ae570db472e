"""Member import (seed 002): members of an earlier program brought over with their cards,
contact details and balances. One line a member (JSON lines or CSV); each valid line
becomes an unlinked member (no web account) with its card and one opening entry.
POST /v1/admin/members/import answers a MemberImportResult."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from loyalty_bridge.models.api_types import Email, Mobile, Name

MAX_LINES_PER_REQUEST = 1_000  # the HTTP route (its answer is stored for Idempotency-Key replays)
MAX_IMPORT_BODY_BYTES = 512 * 1024
MAX_LOTS = 50

FIELDS = (
    "card_number",
    "mobile",
    "email",
    "first_name",
    "last_name",
    "birthday",
    "balance",
    "lots",
    "lifetime_spend",
    "source_program",
)

ImportId = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:#/@+=-]*$")
]

Outcome = Literal["created", "already_there", "refused"]
RefusalReason = Literal[
    "bad_check_digit",  # the card number is not a card number (digits, length, Luhn digit)
    "duplicate_card",  # the card is on an earlier line of the file
    "card_in_use",  # the card is another member's (not from an import): left as it is
    "bad_mobile",  # not an E.164 mobile number
    "bad_email",
    "email_in_use",  # one account per email: another member has it
    "negative_balance",
    "bad_lots",  # lots malformed, not positive, or more points than the balance
    "bad_field",  # another field is malformed (names, birthday, lifetime spend, unknown column)
]


class ImportLot(BaseModel):
    """Points of the opening balance that expire on ``expires_on`` (the old program's date)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    points: int = Field(gt=0)
    expires_on: date


class MemberLine(BaseModel):
    """One valid import line, as program/member_import.screen_line answers it."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    card_number: Annotated[str, StringConstraints(pattern=r"^[0-9]{8,19}$")]
    mobile: Mobile | None = None
    email: Email | None = None
    first_name: Name = ""
    last_name: Name = ""
    birthday: date | None = None
    balance: int = Field(ge=0)
    lots: tuple[ImportLot, ...] = Field(default=(), max_length=MAX_LOTS)
    lifetime_spend: Decimal = Field(default=Decimal(0), ge=0, max_digits=14, decimal_places=2)
    source_program: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] = ""


class LineOutcome(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    line: int = Field(ge=1, description="line number in the file (the header is line 1 of a CSV)")
    card_number: str = Field(description="the card number as sent (trimmed)")
    outcome: Outcome
    reason: RefusalReason | None = None
    detail: str | None = Field(default=None, description="which field, for a refusal")
    member_id: str | None = None


class MemberImportResult(BaseModel):
    """The answer of POST /v1/admin/members/import: every line's outcome, in file order."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    import_id: str
    lines: int = Field(ge=0)
    created: int = Field(ge=0)
    already_there: int = Field(ge=0)
    refused: int = Field(ge=0)
    outcomes: list[LineOutcome]

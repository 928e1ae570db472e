"""Card stock (seed 000): printed physical card numbers imported by the admin, unregistered
until a customer attaches one (A4). POST /v1/admin/cards/import takes these bodies; the
platform port answers a CardImportResult."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

MAX_CARDS_PER_REQUEST = 10_000
# 10,000 numbers of 19 digits are ~200 KB as CSV and ~230 KB as JSON (more with the spaces
# printed cards carry): the import route takes bodies up to this size, not the usual 64 KiB.
MAX_IMPORT_BODY_BYTES = 512 * 1024
MAX_INVALID_LISTED = 1_000  # the answer stays small enough to be stored for Idempotency-Key replays

BatchId = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:#/@-]*$")
]
# Raw, as printed or typed: spaces and dashes are allowed (removed before the check).
RawCardNumber = Annotated[str, StringConstraints(max_length=64)]

InvalidReason = Literal["not_a_number", "length", "check_digit", "duplicate_in_file"]


class CardImportRequest(BaseModel):
    """JSON form of an import; the text/csv form carries the same numbers one a line and
    the batch id as ``?batch_id=``."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    batch_id: BatchId = Field(
        description="the retailer's id of this delivery of cards; a repeat imports nothing twice"
    )
    cards: Annotated[list[RawCardNumber], Field(min_length=1, max_length=MAX_CARDS_PER_REQUEST)]


class InvalidCard(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    number: str = Field(description="the number as sent (trimmed)")
    reason: InvalidReason


class CardImportResult(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    batch_id: str
    imported: int = Field(ge=0, description="new cards, unregistered until a customer attaches one")
    already_known: int = Field(ge=0, description="numbers already on the platform (this or an earlier batch)")
    invalid: list[InvalidCard] = Field(
        default_factory=list, description=f"numbers refused and why (the first {MAX_INVALID_LISTED})"
    )
    invalid_count: int = Field(default=0, ge=0, description="how many numbers were refused in all")

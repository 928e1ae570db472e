"""Bodies of the admin routes (API.md "Admin"): failures that need a human, listed and
replayed. In the listing contact data (emails, phones) is masked, as in the admin emails;
the admin read of one error (ErrorDetail) carries the full change, to fix it by hand (P2)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from loyalty_bridge.models.records import ErrorCategory, ErrorStatus

CategoryName = Literal[
    "new_account_registration", "attach_existing_account_registration", "account_update", "new_order"
]
StatusName = Literal["open", "replaying", "resolved"]


class ErrorView(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    error_id: str
    category: ErrorCategory
    category_title: str
    status: ErrorStatus
    customer_id: str | None = None
    subject_id: str | None = None
    attempted: str
    platform_answer: str
    action: str = Field(min_length=1, description="what the admin should do")
    change_before: dict[str, Any] | None = Field(
        default=None, description="masked; GET /v1/admin/errors/{error_id} has it in full"
    )
    change_after: dict[str, Any] | None = Field(
        default=None, description="masked; GET /v1/admin/errors/{error_id} has it in full"
    )
    attempts: int
    created_at: datetime
    updated_at: datetime
    note: str = ""
    notified: bool = Field(description="the admins were emailed")
    replayable: bool = Field(description="POST .../replay can send the failed message again")
    raw_message: str | None = Field(default=None, description="an unreadable message's text (masked)")


class ErrorDetail(ErrorView):
    """GET /v1/admin/errors/{error_id}: one error with what an admin needs to redo the change
    by hand, unmasked (admin scope only; never logged)."""

    change_before: dict[str, Any] | None = Field(default=None, description="in full, unmasked")
    change_after: dict[str, Any] | None = Field(default=None, description="in full, unmasked")
    raw_message: str | None = Field(default=None, description="an unreadable message's text, in full")


class ErrorPage(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    errors: list[ErrorView]
    next_cursor: str | None = Field(default=None, description="pass as ?cursor= for the next page")


class ResolveError(BaseModel):
    """POST /v1/admin/errors/{error_id}/resolve: the admin fixed it by hand."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    note: str = Field(default="", max_length=500)


class ResolvedError(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    error_id: str
    status: ErrorStatus


class ReplayAccepted(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    error_id: str
    status: ErrorStatus
    queue: str

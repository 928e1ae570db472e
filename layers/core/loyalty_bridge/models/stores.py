"""Points of sale and staff users (R6, seed 001): what the admin routes take and answer.

Stores and staff belong to the bridge (BridgeTable), not to the loyalty platform, so they
work the same with the built-in ledger and an external platform. ``channel`` is the
channel the earn rules know (``webshop`` or ``store``). A staff member may name the store
they work at (it must be registered); one without a store (head office, support) may act
at any store.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from loyalty_bridge.models.api_types import Trim
from loyalty_bridge.models.domain import Channel

# The same shape as the store_id / staff_id orders and quotes carry (api_checkout: at most 64).
DirectoryId = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$")
]
# Lengths as sent, not only whitespace; stored stripped (api_types: constraints first).
Name = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"\S"), Trim]


class StaffRole(StrEnum):
    CASHIER = "cashier"
    MANAGER = "manager"
    SUPPORT = "support"


class PutStore(BaseModel):
    """PUT /v1/admin/stores/{store_id}: register a point of sale, or change it."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    name: Name
    channel: Channel = Field(description="the channel the earn rules know: webshop or store")


class PutStaff(BaseModel):
    """PUT /v1/admin/staff/{staff_id}: register a staff user, or change them."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    name: Name
    store_id: DirectoryId | None = Field(
        default=None, description="the registered store they work at; none: any store (head office)"
    )
    role: StaffRole


class Store(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    store_id: str
    name: str
    channel: Channel
    updated_at: datetime


class StaffMember(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    staff_id: str
    name: str
    store_id: str | None = None
    role: StaffRole
    updated_at: datetime


class StorePage(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    stores: list[Store]
    next_cursor: str | None = Field(default=None, description="pass as ?cursor= for the next page")


class StaffPage(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    staff: list[StaffMember]
    next_cursor: str | None = Field(default=None, description="pass as ?cursor= for the next page")


class DirectoryLookup(BaseModel):
    """What one read of the directory tells about an operation's store and staff user."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    any_store: bool = Field(description="at least one store is registered (else nothing is checked)")
    store: Store | None = None
    staff: StaffMember | None = None

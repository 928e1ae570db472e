"""Queue message contracts. Every message is an Envelope; ``kind`` names the payload model,
``v`` its schema version. Consumers validate both and reject (record) what they do not know.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from loyalty_bridge.models.records import utcnow


class Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    v: int = Field(default=1, ge=1)
    kind: str = Field(min_length=1, max_length=64)  # e.g. "membership.create", "profile.update"
    message_id: str = Field(min_length=1, max_length=128)  # business key: dedup and error ids
    customer_id: str | None = Field(default=None, max_length=128)
    version: int | None = None  # the customer record version that produced it (stale checks)
    sent_at: datetime = Field(default_factory=utcnow)
    replay_of: str | None = None  # error_id when an admin replays a failure
    payload: dict[str, Any] = Field(default_factory=dict)

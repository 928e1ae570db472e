"""Points expiry sweep (R3): members nobody visits still lose their expired points.

Expiry is applied lazily by the built-in ledger on each member's next read or write; this
sweep (run by the hold sweeper's schedule) writes off the rest. External platforms expire
points on their side.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

from loyalty_bridge.observability import logger


@runtime_checkable
class ExpiringPoints(Protocol):
    """A platform that keeps points itself and must be told to let expired ones go."""

    def expire_points(self, now: datetime) -> int: ...


def sweep_expired_points(platform: object, now: datetime) -> int | None:
    """Write off every point expired by ``now``; the members who lost points, or None when
    the platform expires points itself."""
    if not isinstance(platform, ExpiringPoints):
        logger.info("points expire on the platform side", extra={"platform": type(platform).__name__})
        return None
    members = platform.expire_points(now)
    logger.info("expired points written off", extra={"members": members, "now": now.isoformat()})
    return members

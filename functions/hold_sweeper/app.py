"""Hold sweeper (every 5 minutes): releases redemption holds that expired, so abandoned
carts give their points back (C2), and writes off points past their expiry (R3) for members
nobody visits (the ledger also does it on each member's next read or write). Holds and
points on an external platform expire on its side.

"Now" is the scheduled event's ``time`` (EventBridge sets it to the scheduled moment), so
a sweep is repeatable and a test can move the clock by sending a later time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from loyalty_bridge import wiring
from loyalty_bridge.models.records import utcnow
from loyalty_bridge.observability import logger, metrics
from loyalty_bridge.services.checkout import sweep_expired_holds
from loyalty_bridge.services.expiry import sweep_expired_points


def sweep_time(event: dict[str, Any]) -> datetime:
    raw = event.get("time")
    if isinstance(raw, str):
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            logger.warning("scheduled event time unreadable; using the clock")
        else:
            if moment.tzinfo is not None:
                return moment
    return utcnow()


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = sweep_time(event)
    platform = wiring.platform()
    released = sweep_expired_holds(platform, now)
    # Holds first: points they give back may be the ones that expired.
    expired = sweep_expired_points(platform, now)
    return {"released": released, "members_with_expired_points": expired}

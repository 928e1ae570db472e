"""Logger, Tracer and Metrics shared by every function (Powertools).

Service name and metric namespace come from POWERTOOLS_SERVICE_NAME and
POWERTOOLS_METRICS_NAMESPACE set in template.yaml.
"""

from __future__ import annotations

import hashlib
import os

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
# A default namespace so a flush never fails where the env var is unset (tests, scripts).
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "LoyaltyBridge"))


def pseudonym(value: str | None) -> str:
    """Stable, non-reversible short id for personal data in logs (emails, customer ids)."""
    if not value:
        return "-"
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()[:12]


def mask_email(email: str) -> str:
    """a***@e***.com: enough for an admin to recognise, not enough to harvest."""
    local, _, domain = email.partition("@")
    host, _, tld = domain.rpartition(".")
    return f"{local[:1]}***@{host[:1]}***.{tld}" if domain else "***"


def mask_phone(phone: str) -> str:
    digits = [c for c in phone if c.isdigit()]
    return "***" + "".join(digits[-3:]) if digits else "***"


def count_metric(name: str, value: float = 1, **dimensions: str) -> None:
    """Emit one Count metric with its own dimensions (e.g. ``target="mailchimp"``), right
    away as one EMF line, so a per-call dimension never leaks onto the other metrics."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    namespace = metrics.namespace or "LoyaltyBridge"
    with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=namespace) as metric:
        for key, dimension in dimensions.items():
            metric.add_dimension(name=key, value=dimension)


class MetricName:
    """Every business metric the code emits. The dashboard in template.yaml must chart each
    of these, and nothing else (a test checks both directions)."""

    SIGNUPS = "Signups"
    JOINS = "Joins"
    JOIN_REFUSED = "JoinRefused"
    ATTACH_STARTED = "AttachStarted"
    ATTACH_COMPLETED = "AttachCompleted"
    ATTACH_FAILED = "AttachFailed"
    SYNC_SUCCEEDED = "SyncSucceeded"
    SYNC_FAILED = "SyncFailed"
    ERRORS_RECORDED = "ErrorsRecorded"
    ORDERS_CREDITED = "OrdersCredited"
    ORDER_TO_POINTS_MS = "OrderToPointsLatency"
    PLATFORM_LATENCY_MS = "PlatformLatency"
    PLATFORM_ERRORS = "PlatformErrors"
    REDEMPTIONS_HELD = "RedemptionsHeld"
    POINTS_REVERSED = "PointsReversed"

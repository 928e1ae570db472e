"""Logger and Metrics shared by every function (Powertools), and the Powertools adapter of
the metrics port (ports.Metrics).

Tracing is Lambda's active tracing (``Tracing: Active`` in template.yaml): Lambda records
every invocation's segment (init, invocation, overhead) without any SDK in the function.
There is no Powertools ``Tracer``: it imports the X-Ray SDK (and botocore through it) at
module load, about half of every handler's cold start, to add subsegments per AWS call.

Service name and metric namespace come from POWERTOOLS_SERVICE_NAME and
POWERTOOLS_METRICS_NAMESPACE set in template.yaml.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

logger = Logger()
# A default namespace so a flush never fails where the env var is unset (tests, scripts).
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "LoyaltyBridge"))


class PowertoolsMetrics:
    """ports.Metrics over the shared Powertools ``metrics`` (EMF in the function's log).

    ``count`` and ``milliseconds`` add to the invocation's metric set, flushed by the
    handler's ``@metrics.log_metrics``; ``count_by`` goes out right away as one EMF line
    with its own dimensions (e.g. ``target="mailchimp"``), so a per-call dimension never
    leaks onto the other metrics."""

    def __init__(self, sink: Metrics = metrics) -> None:
        self._sink = sink

    def count(self, name: str, value: float = 1) -> None:
        self._sink.add_metric(name=name, unit=MetricUnit.Count, value=value)

    def milliseconds(self, name: str, value: float) -> None:
        self._sink.add_metric(name=name, unit=MetricUnit.Milliseconds, value=value)

    def count_by(self, name: str, value: float = 1, **dimensions: str) -> None:
        namespace = self._sink.namespace or "LoyaltyBridge"
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
    ADJUSTMENTS = "Adjustments"  # R7: staff credits and debits of points
    CARDS_BLOCKED = "CardsBlocked"  # A10
    CARDS_REPLACED = "CardsReplaced"  # A10

"""observability.PowertoolsMetrics: the metrics port as CloudWatch EMF."""

from __future__ import annotations

import json

import pytest
from aws_lambda_powertools import Metrics

from loyalty_bridge.observability import MetricName, PowertoolsMetrics


@pytest.fixture
def sink() -> Metrics:
    """Powertools Metrics instances share one metric set: start from an empty one, whatever a
    test before this one (a service called without a handler's flush) left in it."""
    metrics = Metrics(namespace="LoyaltyBridge", service="loyalty-bridge")
    metrics.clear_metrics()
    return metrics


def test_count_by_is_one_emf_line_with_its_own_dimension(
    sink: Metrics, capsys: pytest.CaptureFixture[str]
) -> None:
    PowertoolsMetrics(sink).count_by(MetricName.SYNC_FAILED, target="mailchimp")
    [line] = [json.loads(text) for text in capsys.readouterr().out.splitlines() if '"_aws"' in text]
    [directive] = line["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "LoyaltyBridge"
    assert directive["Metrics"] == [{"Name": "SyncFailed", "Unit": "Count"}]
    assert "target" in directive["Dimensions"][0]
    assert line["target"] == "mailchimp"
    assert sink.metric_set == {}  # nothing left to leak onto the invocation's other metrics


def test_count_and_milliseconds_join_the_invocations_metrics_without_a_dimension(sink: Metrics) -> None:
    try:
        metrics = PowertoolsMetrics(sink)
        metrics.count(MetricName.ORDERS_CREDITED)
        metrics.milliseconds(MetricName.ORDER_TO_POINTS_MS, 120.0)
        emf = sink.serialize_metric_set()
    finally:
        sink.clear_metrics()
    [directive] = emf["_aws"]["CloudWatchMetrics"]
    assert {(m["Name"], m["Unit"]) for m in directive["Metrics"]} == {
        ("OrdersCredited", "Count"),
        ("OrderToPointsLatency", "Milliseconds"),
    }
    assert directive["Dimensions"] == [["service"]]

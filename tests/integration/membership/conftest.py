"""Membership integration fixtures over the root ``aws`` fixture (template.yaml's own
resources in moto)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from bridge_local.resources import Provisioned


@pytest.fixture
def dynamodb(aws: Provisioned) -> Any:
    return aws.client("dynamodb")


@pytest.fixture
def bridge_table(aws: Provisioned) -> str:
    return str(aws.tables["BridgeTable"])


@pytest.fixture(autouse=True)
def _metrics_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    """On Lambda POWERTOOLS_METRICS_NAMESPACE is set before observability is imported; here
    the shared Metrics object may predate it, and a handler's flush needs one."""
    from loyalty_bridge.observability import metrics

    if not metrics.namespace:
        monkeypatch.setattr(metrics, "namespace", "LoyaltyBridge")

"""Core (HTTP plumbing) unit fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loyalty_bridge import wiring
from tests.fake_core import InMemoryIdempotencyStore
from tests.unit.core.thing_api import ThingApi, build_api


@pytest.fixture(autouse=True)
def _fresh_wiring() -> Iterator[None]:
    wiring.reset()
    yield
    wiring.reset()


@pytest.fixture
def idempotency_store() -> InMemoryIdempotencyStore:
    return InMemoryIdempotencyStore()


@pytest.fixture
def api(idempotency_store: InMemoryIdempotencyStore) -> ThingApi:
    return build_api(idempotency_store)

"""Acceptance tests drive the local stack (root ``local_stack`` fixture) over HTTP with
signed requests, as a storefront would. Every test here is marked ``acceptance``.

Tests share one stack per set of settings: use fresh ids and emails (``new_customer``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge_local.client import SignedClient
from bridge_local.stack import LocalStackProcess

ACCEPTANCE_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if ACCEPTANCE_DIR in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.acceptance)


@pytest.fixture
def new_customer() -> Callable[..., dict[str, Any]]:
    """A valid POST /v1/customers body with a fresh customer id and email."""

    def make(**overrides: Any) -> dict[str, Any]:
        tag = uuid.uuid4().hex[:12]
        body: dict[str, Any] = {
            "customer_id": f"c-{tag}",
            "email": f"ann.{tag}@example.com",
            "first_name": "Ann",
            "last_name": "Lee",
            "consents": {"email": True, "sms": False},
        }
        body.update(overrides)
        return body

    return make


# A module that runs its own stack (a ``stack`` fixture with its parameters) gets its signed
# clients from here: ``client`` (alias ``shop``) with the storefront key, ``admin`` with the
# admin key.
@pytest.fixture
def client(
    stack: LocalStackProcess, client_for: Callable[[LocalStackProcess, str], SignedClient]
) -> Iterator[SignedClient]:
    with client_for(stack, "storefront") as signed:
        yield signed


@pytest.fixture
def shop(client: SignedClient) -> SignedClient:
    return client


@pytest.fixture
def admin(
    stack: LocalStackProcess, client_for: Callable[[LocalStackProcess, str], SignedClient]
) -> Iterator[SignedClient]:
    with client_for(stack, "admin") as signed:
        yield signed

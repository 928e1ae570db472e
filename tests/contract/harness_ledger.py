"""adapters/ledger DynamoDbLedger under the contract suite, on a moto DynamoDB server."""

from __future__ import annotations

import os

import pytest

from loyalty_bridge.adapters.ledger import DynamoDbLedger
from loyalty_bridge.program.earn_rules import ProgramRules
from loyalty_bridge.settings import Settings
from tests.contract.harness import PlatformHarness
from tests.contract.moto_ledger import create_ledger_table, dynamodb_client, serialized_moto_endpoint
from tests.fake_platform import FakeClock

NAME = "ledger"


def ledger_on_moto(
    settings: Settings, rules: ProgramRules, clock: FakeClock, endpoint: str | None = None
) -> DynamoDbLedger:
    """A DynamoDbLedger on a fresh LedgerTable (one table per test: no shared state)."""
    client = dynamodb_client(endpoint or serialized_moto_endpoint())
    return DynamoDbLedger(client, create_ledger_table(client), settings, rules, clock)


def _root_moto_endpoint(request: pytest.FixtureRequest) -> str | None:
    """The root conftest's ``moto_server`` (it exports AWS_ENDPOINT_URL), when there is one."""
    try:
        request.getfixturevalue("moto_server")
    except pytest.FixtureLookupError:
        return None
    return os.environ.get("AWS_ENDPOINT_URL")


def open_harness(
    request: pytest.FixtureRequest, settings: Settings, rules: ProgramRules, clock: FakeClock
) -> PlatformHarness:
    ledger = ledger_on_moto(settings, rules, clock, _root_moto_endpoint(request))
    return PlatformHarness(
        name=NAME,
        platform=ledger,
        clock=clock,
        settings=settings,
        rules=rules,
        import_physical_cards=ledger.import_physical_cards,
        release_expired_holds=ledger.release_expired_holds,
        entries_total=lambda member_id: sum(int(e["delta"]) for e in ledger.entries(member_id)),
        expire_points=ledger.expire_points,
    )

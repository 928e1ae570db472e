"""Ledger integration fixtures: DynamoDbLedger on a fresh LedgerTable in a moto server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from loyalty_bridge.adapters.ledger import DynamoDbLedger
from loyalty_bridge.program.earn_rules import ProgramRules, load_rules
from loyalty_bridge.settings import Settings
from tests.contract.harness_ledger import ledger_on_moto
from tests.fake_platform import FakeClock

MakeLedger = Callable[..., DynamoDbLedger]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_ledger(clock: FakeClock) -> MakeLedger:
    """``make_ledger(pending_days=3)``: Settings overrides, or ``rules=ProgramRules(...)``."""

    def make(*, rules: ProgramRules | None = None, **overrides: Any) -> DynamoDbLedger:
        settings = Settings(**overrides)
        return ledger_on_moto(settings, rules or load_rules(settings), clock)

    return make

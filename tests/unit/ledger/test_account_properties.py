"""The ledger state machine (tests/ledger_machine.py) on the account rules alone
(program/account.py and friends, in the in-memory platform): fast, no moto, so it can
afford more examples than the run over DynamoDB."""

from __future__ import annotations

from typing import Any

from hypothesis import settings as hypothesis_settings

from loyalty_bridge.program.earn_rules import ProgramRules
from loyalty_bridge.settings import Settings
from tests.fake_platform import FakeClock, InMemoryPlatform
from tests.ledger_machine import MACHINE_SETTINGS, LedgerMachine


class AccountRulesMachine(LedgerMachine):
    def open_platform(self, settings: Settings, rules: ProgramRules, clock: FakeClock) -> Any:
        return InMemoryPlatform(settings, rules, clock)


AccountRulesMachine.TestCase.settings = hypothesis_settings(
    MACHINE_SETTINGS, max_examples=100, stateful_step_count=30
)
test_account_rules_state_machine = AccountRulesMachine.TestCase

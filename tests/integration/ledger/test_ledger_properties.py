"""The ledger state machine (tests/ledger_machine.py) on the built-in ledger over moto."""

from __future__ import annotations

from typing import Any

from loyalty_bridge.program.earn_rules import ProgramRules
from loyalty_bridge.settings import Settings
from tests.contract.harness_ledger import ledger_on_moto
from tests.fake_platform import FakeClock
from tests.ledger_machine import MACHINE_SETTINGS, LedgerMachine


class MotoLedgerMachine(LedgerMachine):
    def open_platform(self, settings: Settings, rules: ProgramRules, clock: FakeClock) -> Any:
        return ledger_on_moto(settings, rules, clock)


MotoLedgerMachine.TestCase.settings = MACHINE_SETTINGS
test_ledger_state_machine = MotoLedgerMachine.TestCase

"""tests/fakes.py InMemoryPlatform under the contract suite (keeps the fake honest)."""

from __future__ import annotations

import pytest

from loyalty_bridge.program.earn_rules import ProgramRules
from loyalty_bridge.settings import Settings
from tests.contract.harness import PlatformHarness
from tests.fake_platform import FakeClock, InMemoryPlatform

NAME = "memory"


def open_harness(
    request: pytest.FixtureRequest, settings: Settings, rules: ProgramRules, clock: FakeClock
) -> PlatformHarness:
    platform = InMemoryPlatform(settings, rules, clock)
    return PlatformHarness(
        name=NAME,
        platform=platform,
        clock=clock,
        settings=settings,
        rules=rules,
        import_physical_cards=platform.import_physical_cards,
        release_expired_holds=platform.release_expired_holds,
        entries_total=platform.balance_of,
        expire_points=platform.expire_points,
    )

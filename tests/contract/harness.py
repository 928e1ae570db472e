"""What the contract suite needs from each LoyaltyPlatform implementation under test.

Adding an adapter: create ``tests/contract/harness_<name>.py`` with ``NAME = "<name>"`` and
``def open_harness(request, settings, rules, clock) -> PlatformHarness`` (register cleanup
with ``request.addfinalizer``; get session resources with ``request.getfixturevalue``).
conftest.py discovers every ``harness_*`` module and parametrizes the suite with it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import pytest

from loyalty_bridge.ports import LoyaltyPlatform
from loyalty_bridge.program.earn_rules import ProgramRules
from loyalty_bridge.settings import Settings
from tests.fake_platform import FakeClock


@dataclass
class PlatformHarness:
    name: str
    platform: LoyaltyPlatform
    clock: FakeClock  # the platform's notion of now; tests move it with clock.advance(...)
    settings: Settings
    rules: ProgramRules
    # Card stock (A4): printed numbers, unregistered until attached.
    import_physical_cards: Callable[[Sequence[str]], int]
    # The hold sweeper, when the implementation has one (None: expiry is checked lazily only).
    release_expired_holds: Callable[[datetime], int] | None = None
    # Sum of the member's ledger entries, when the implementation can tell (property checks).
    entries_total: Callable[[str], int] | None = None
    # The points sweeper (R3): writes off expired points of members nobody visits.
    expire_points: Callable[[datetime], int] | None = None
    # Port methods the implementation declares it does not support (e.g. a platform with no
    # adjustments): the contract tests of those methods are skipped with ``requires``.
    unsupported: frozenset[str] = frozenset()


def requires(harness: PlatformHarness, *methods: str) -> None:
    """Skip the calling test when the implementation declares any of ``methods`` unsupported."""
    missing = sorted(set(methods) & harness.unsupported)
    if missing:
        pytest.skip(f"{harness.name} declares {', '.join(missing)} unsupported")


class OpenHarness(Protocol):
    def __call__(
        self, request: pytest.FixtureRequest, settings: Settings, rules: ProgramRules, clock: FakeClock
    ) -> PlatformHarness: ...

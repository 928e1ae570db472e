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
    # What the implementation offers, when it does not offer everything (None): a test
    # that needs a capability it lacks is skipped naming it (``require``), never passed.
    capabilities: frozenset[str] | None = None


# Capabilities a platform may lack (tests name them with ``require``; conftest.py skips a
# test whose Settings overrides need one).
CAPABILITIES = frozenset(
    {
        "program_rules",  # the bridge's program settings (earn rules, tiers, expiry, rewards)
        "pending_points",  # points pending for the return window (pending_days)
        "merge_cards",  # A8
        "referrals",  # R5
        "reversal_shortfall",  # a reversal says what it could not take back
        "card_stock",  # A10 import of unregistered physical cards
        "adjust",  # R7 staff adjustments
        "activity",  # R8 the member's history
        "stats",  # per-day statistics
        "card_lifecycle",  # A10 block and replace a card
        "erase",  # D2 erase the person, keep the points (GDPR Art. 17)
        "member_import",  # seed 002: members with cards and opening balances (import_members)
    }
)
# Settings a test may override, and the capability honouring them needs.
SETTING_CAPABILITIES = {"earn_rules_json": "program_rules", "pending_days": "pending_points"}


def require(h: PlatformHarness, capability: str) -> None:
    """Skip the test, naming the capability, when ``h``'s platform does not offer it."""
    assert capability in CAPABILITIES, capability
    if h.capabilities is not None and capability not in h.capabilities:
        pytest.skip(f"{h.name} lacks capability {capability!r}")


def requires(h: PlatformHarness, *capabilities: str) -> None:
    """``require`` for several capabilities at once."""
    for capability in capabilities:
        require(h, capability)


class OpenHarness(Protocol):
    def __call__(
        self, request: pytest.FixtureRequest, settings: Settings, rules: ProgramRules, clock: FakeClock
    ) -> PlatformHarness: ...

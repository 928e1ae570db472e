"""Contract suite fixtures: ``platform`` runs each test against every implementation.

Implementations register themselves as ``tests/contract/harness_<name>.py`` modules (see
harness.py); this file finds them, so adding an adapter needs no edit here.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

import pytest

import tests.contract as contract_package
from loyalty_bridge.program.earn_rules import ProgramRules, load_rules
from loyalty_bridge.settings import Settings
from tests.contract.harness import SETTING_CAPABILITIES, OpenHarness, PlatformHarness, require
from tests.fake_platform import FakeClock


def _discover() -> dict[str, OpenHarness]:
    found: dict[str, OpenHarness] = {}
    for info in pkgutil.iter_modules(contract_package.__path__):
        if info.name.startswith("harness_"):
            module = importlib.import_module(f"tests.contract.{info.name}")
            found[module.NAME] = module.open_harness
    return dict(
        sorted(
            found.items(),
            key=lambda kv: ("memory", "ledger").index(kv[0]) if kv[0] in ("memory", "ledger") else 99,
        )
    )


HARNESSES = _discover()

MakePlatform = Callable[..., PlatformHarness]


@pytest.fixture(params=list(HARNESSES))
def make_platform(request: pytest.FixtureRequest) -> MakePlatform:
    """Build the implementation under test: ``make_platform(pending_days=3, earn_rules_json=...)``
    takes Settings overrides (or ``rules=ProgramRules(...)``)."""
    opener = HARNESSES[request.param]

    def make(*, rules: ProgramRules | None = None, **overrides: Any) -> PlatformHarness:
        settings = Settings(**overrides)
        harness = opener(request, settings, rules or load_rules(settings), FakeClock())
        for name in sorted(overrides):
            if name in SETTING_CAPABILITIES:
                require(harness, SETTING_CAPABILITIES[name])
        if rules is not None:
            require(harness, "program_rules")
        return harness

    return make


@pytest.fixture
def platform(make_platform: MakePlatform) -> PlatformHarness:
    return make_platform()

"""PlatformAdapter=talon_one wires the Talon.One adapter (and refuses to start half configured)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loyalty_bridge import wiring
from loyalty_bridge.adapters.rest_transport import PlatformNotConfigured
from loyalty_bridge.adapters.talon_one_platform import TalonOnePlatform


@pytest.fixture(autouse=True)
def fresh_wiring(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("PLATFORM_ADAPTER", "talon_one")
    wiring.reset()
    yield monkeypatch
    wiring.reset()


def test_talon_one_is_the_platform_when_configured(fresh_wiring: pytest.MonkeyPatch) -> None:
    fresh_wiring.setenv("TALON_ONE_BASE_URL", "https://shop.europe-west1.talon.one")
    fresh_wiring.setenv("TALON_ONE_LOYALTY_PROGRAM_ID", "7")

    assert isinstance(wiring.platform(), TalonOnePlatform)


def test_talon_one_without_a_program_id_is_not_configured(fresh_wiring: pytest.MonkeyPatch) -> None:
    fresh_wiring.setenv("TALON_ONE_BASE_URL", "https://shop.europe-west1.talon.one")

    with pytest.raises(PlatformNotConfigured):
        wiring.platform()

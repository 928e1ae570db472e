"""services/balances.BalanceRecorder: what the login summary keeps after a change of points
on a platform it must not call (REST); never a reason for the change itself to fail."""

from __future__ import annotations

from decimal import Decimal

import pytest

from loyalty_bridge import errors, wiring
from loyalty_bridge.models.domain import Balance
from loyalty_bridge.services.balances import BalanceRecorder
from tests.fakes import InMemoryBalanceSnapshots


class Platform:
    """get_balance only: answers ``balance`` or raises ``failure``."""

    def __init__(self, balance: Balance | None = None, failure: Exception | None = None) -> None:
        self.balance = balance
        self.failure = failure
        self.reads = 0

    def get_balance(self, member_id: str) -> Balance:
        self.reads += 1
        if self.failure is not None:
            raise self.failure
        assert self.balance is not None
        return self.balance


class BrokenSnapshots(InMemoryBalanceSnapshots):
    def put(self, balance: Balance) -> None:
        raise errors.Retryable("balance snapshot write temporarily unavailable")


LAST = Balance(member_id="m-1", balance=100, held=30, pending=5, tier="Bronze", lifetime_spend=Decimal(80))


def recorder(platform: Platform, snapshots: InMemoryBalanceSnapshots) -> BalanceRecorder:
    return BalanceRecorder(platform, snapshots)  # type: ignore[arg-type]  # get_balance is all it uses


def test_a_change_keeps_the_platforms_whole_balance_read_once() -> None:
    now = Balance(member_id="m-1", balance=170, held=0, pending=12, tier="Gold", lifetime_spend=Decimal(150))
    platform, snapshots = Platform(now), InMemoryBalanceSnapshots()
    snapshots.put(LAST)

    recorder(platform, snapshots).moved("m-1", balance=170)

    assert snapshots.get("m-1") == now  # held, pending, tier too: not only the answered points
    assert platform.reads == 1


def test_an_unreadable_platform_lays_the_answered_balance_over_the_last_one() -> None:
    snapshots = InMemoryBalanceSnapshots()
    snapshots.put(LAST)

    recorder(Platform(failure=errors.PlatformUnavailable("down")), snapshots).moved("m-1", balance=170)

    assert snapshots.get("m-1") == LAST.model_copy(update={"balance": 170})


def test_an_unreadable_platform_without_an_answered_balance_keeps_the_last_one() -> None:
    snapshots = InMemoryBalanceSnapshots()
    snapshots.put(LAST)

    recorder(Platform(failure=errors.PlatformUnavailable("down")), snapshots).moved("m-1")

    assert snapshots.get("m-1") == LAST


def test_nothing_to_lay_over_leaves_no_snapshot_so_the_summary_reads_the_platform() -> None:
    snapshots = InMemoryBalanceSnapshots()

    recorder(Platform(failure=errors.PlatformUnavailable("down")), snapshots).moved("m-1", balance=170)

    assert snapshots.get("m-1") is None


def test_a_failing_snapshot_store_never_fails_the_change(caplog: pytest.LogCaptureFixture) -> None:
    recorder(Platform(LAST), BrokenSnapshots()).moved("m-1", balance=100)

    assert "balance snapshot not refreshed" in caplog.text
    assert "m-1" not in caplog.text  # member ids are logged as pseudonyms


def test_the_built_in_ledger_gets_no_recorder(monkeypatch: pytest.MonkeyPatch) -> None:
    """Its summary reads the ledger, written in the same transaction as the points."""
    monkeypatch.setenv("PLATFORM_ADAPTER", "ledger")
    wiring.reset()
    try:
        assert wiring.balance_recorder() is None
    finally:
        wiring.reset()

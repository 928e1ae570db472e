"""What only the built-in ledger promises (the shared behaviour is in tests/contract)."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from loyalty_bridge import wiring
from loyalty_bridge.adapters.ledger import DynamoDbLedger
from loyalty_bridge.errors import InvalidInput, PlatformError, PlatformUnavailable, is_retryable
from loyalty_bridge.models.domain import Consents, MemberProfile, PlatformOrder, PlatformOrderLine
from loyalty_bridge.program import card_numbers
from loyalty_bridge.settings import Settings
from tests.contract.moto_ledger import dynamodb_client, serialized_moto_endpoint
from tests.fake_platform import FakeClock
from tests.integration.ledger.conftest import MakeLedger


class CountingClient:
    """A DynamoDB client that counts calls and can refuse the next transactions with a
    given cancellation reason (what DynamoDB answers when transactions collide)."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.calls: list[str] = []
        self.conflicts_left = 0

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._real, name)

        def call(**kwargs: Any) -> Any:
            self.calls.append(name)
            if name == "transact_write_items" and self.conflicts_left:
                self.conflicts_left -= 1
                raise ClientError(
                    {
                        "Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
                        "CancellationReasons": [{"Code": "TransactionConflict"}],
                    },
                    "TransactWriteItems",
                )
            return method(**kwargs)

        return call


def an_order(order_id: str, amount: str, clock: FakeClock, redemption_id: str | None = None) -> PlatformOrder:
    return PlatformOrder(
        order_id=order_id,
        placed_at=clock(),
        currency="EUR",
        total=Decimal(amount),
        redemption_id=redemption_id,
        lines=[
            PlatformOrderLine(product_code="A", title="A", quantity=1, unit_price=Decimal(amount), sku="A")
        ],
    )


def test_virtual_cards_carry_a_check_digit(make_ledger: MakeLedger) -> None:
    member = make_ledger().create_member(
        MemberProfile(email="a@example.com"), Consents(), idempotency_key="k"
    )
    assert card_numbers.is_valid(member.card.number)


def test_card_stock_import_checks_digits_and_ignores_known_numbers(make_ledger: MakeLedger) -> None:
    ledger = make_ledger()
    stock = [card_numbers.new_virtual_number(prefix="77") for _ in range(3)]

    assert ledger.import_physical_cards(stock) == 3
    assert ledger.import_physical_cards([*stock, card_numbers.new_virtual_number(prefix="77")]) == 1
    with pytest.raises(InvalidInput):
        ledger.import_physical_cards(["1234567890123"])


def test_a_balance_change_is_one_transaction(clock: FakeClock, make_ledger: MakeLedger) -> None:
    real = make_ledger()
    counting = CountingClient(real._db)
    ledger = DynamoDbLedger(counting, real._table, Settings(), real.rules, clock)  # type: ignore[arg-type]
    member = ledger.create_member(MemberProfile(email="a@example.com"), Consents(), idempotency_key="k")
    counting.calls.clear()

    ledger.post_order(member.member_id, an_order("o-1", "10", clock))

    writes = [
        c for c in counting.calls if c in {"put_item", "update_item", "delete_item", "transact_write_items"}
    ]
    assert writes == ["transact_write_items"]
    counting.calls.clear()
    ledger.post_order(member.member_id, an_order("o-1", "10", clock))
    assert "transact_write_items" not in counting.calls  # a replay writes nothing


def test_colliding_transactions_are_retried(clock: FakeClock, make_ledger: MakeLedger) -> None:
    real = make_ledger()
    counting = CountingClient(real._db)
    ledger = DynamoDbLedger(counting, real._table, Settings(), real.rules, clock, sleep=lambda _: None)  # type: ignore[arg-type]
    member = ledger.create_member(MemberProfile(email="a@example.com"), Consents(), idempotency_key="k")
    counting.conflicts_left = 3

    assert ledger.post_order(member.member_id, an_order("o-1", "10", clock)).points_earned == 10
    assert ledger.get_balance(member.member_id).balance == 10

    counting.conflicts_left = 1000
    with pytest.raises(PlatformUnavailable):
        ledger.post_order(member.member_id, an_order("o-2", "10", clock))
    assert ledger.get_balance(member.member_id).balance == 10


@pytest.mark.parametrize(
    ("code", "status", "retryable"),
    [
        ("ProvisionedThroughputExceededException", 400, True),
        ("ThrottlingException", 400, True),
        ("InternalServerError", 500, True),
        ("ResourceNotFoundException", 400, False),
        ("AccessDeniedException", 400, False),
    ],
)
def test_dynamodb_failures_become_platform_errors(code: str, status: int, retryable: bool) -> None:
    client = dynamodb_client(serialized_moto_endpoint())
    ledger = DynamoDbLedger(client, "ledger", Settings())
    with Stubber(client) as stub:
        stub.add_client_error("batch_get_item", service_error_code=code, http_status_code=status)
        with pytest.raises(PlatformError) as failed:
            ledger.get_member("m-1")
    assert is_retryable(failed.value) is retryable
    assert isinstance(failed.value, PlatformUnavailable) is retryable


def test_twin_deliveries_of_one_order_credit_once(clock: FakeClock, make_ledger: MakeLedger) -> None:
    ledger = make_ledger()
    member = ledger.create_member(MemberProfile(email="a@example.com"), Consents(), idempotency_key="k")
    results = []

    def deliver() -> None:
        results.append(ledger.post_order(member.member_id, an_order("o-1", "25", clock)))

    threads = [threading.Thread(target=deliver) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(results) == 6
    assert {r.points_earned for r in results} == {25}
    assert ledger.get_balance(member.member_id).balance == 25
    assert [e["kind"] for e in ledger.entries(member.member_id)] == ["order"]


def test_expired_holds_are_swept_through_the_index(clock: FakeClock, make_ledger: MakeLedger) -> None:
    ledger = make_ledger()
    member = ledger.create_member(MemberProfile(email="a@example.com"), Consents(), idempotency_key="k")
    ledger.post_order(member.member_id, an_order("o-1", "100", clock))
    for i in range(3):
        ledger.hold_points(
            member.member_id,
            f"r-{i}",
            10,
            order_total=Decimal(100),
            expires_at=clock() + timedelta(minutes=5 + 10 * i),
        )

    assert ledger.release_expired_holds(clock() + timedelta(minutes=20)) == 2
    clock.advance(minutes=20)
    balance = ledger.get_balance(member.member_id)
    assert (balance.balance, balance.held) == (100, 10)
    assert ledger.release_expired_holds(clock() + timedelta(hours=1)) == 1
    assert ledger.release_expired_holds(clock() + timedelta(hours=1)) == 0


def test_wiring_builds_the_ledger_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLATFORM_ADAPTER", "ledger")
    monkeypatch.setenv("LEDGER_TABLE", "some-ledger")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    wiring.reset()
    try:
        built = wiring.platform()
        assert isinstance(built, DynamoDbLedger)
        assert built is wiring.ledger()
    finally:
        wiring.reset()

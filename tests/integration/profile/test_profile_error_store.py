"""DynamoErrorStore against moto: once per id, newest first, paged, filtered, notified once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from loyalty_bridge import errors
from loyalty_bridge.adapters.error_store import DynamoErrorStore
from loyalty_bridge.models.records import ErrorCategory, ErrorRecord, ErrorStatus
from tests.integration.profile.conftest import ERRORS_TABLE

pytestmark = pytest.mark.integration

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def record(n: int, category: ErrorCategory = ErrorCategory.ACCOUNT_UPDATE, **extra: Any) -> ErrorRecord:
    return ErrorRecord(
        error_id=f"{category.value}:key-{n}",
        category=category,
        customer_id=f"c-{n}",
        attempted="update the loyalty profile",
        platform_answer="refused",
        change_before={"first_name": "A"},
        change_after={"first_name": "B"},
        replay={"queue": "profile_sync", "body": {"message_id": f"m-{n}", "kind": "profile.update"}},
        created_at=T0 + timedelta(minutes=n),
        **extra,
    )


@pytest.fixture
def store(dynamodb: Any) -> DynamoErrorStore:
    return DynamoErrorStore(dynamodb, ERRORS_TABLE)


def test_record_stores_once_and_counts_repeats(store: DynamoErrorStore) -> None:
    assert store.record(record(1)) is True
    assert store.record(record(1).model_copy(update={"platform_answer": "again"})) is False

    stored = store.get("account_update:key-1")
    assert stored is not None
    assert stored.attempts == 2
    assert stored.platform_answer == "again"
    assert stored.change_after == {"first_name": "B"}
    assert stored.replay["body"]["message_id"] == "m-1"
    assert stored.created_at == T0 + timedelta(minutes=1)
    assert store.get("nope") is None


def test_list_is_newest_first_and_paged_with_an_opaque_cursor(store: DynamoErrorStore) -> None:
    for n in range(5):
        store.record(record(n))

    first, cursor = store.list(category=None, status=None, limit=2, cursor=None)
    assert [r.error_id for r in first] == ["account_update:key-4", "account_update:key-3"]
    assert cursor is not None
    second, cursor = store.list(category=None, status=None, limit=2, cursor=cursor)
    assert [r.error_id for r in second] == ["account_update:key-2", "account_update:key-1"]
    third, cursor = store.list(category=None, status=None, limit=2, cursor=cursor)
    assert [r.error_id for r in third] == ["account_update:key-0"]
    assert cursor is None


def test_list_filters_by_category_and_status(store: DynamoErrorStore) -> None:
    for n in range(6):
        category = ErrorCategory.NEW_ORDER if n % 2 else ErrorCategory.ACCOUNT_UPDATE
        store.record(record(n, category))
    store.set_status("new_order:key-3", ErrorStatus.RESOLVED.value, note="fixed")

    orders, _ = store.list(category="new_order", status=None, limit=10, cursor=None)
    assert [r.error_id for r in orders] == ["new_order:key-5", "new_order:key-3", "new_order:key-1"]

    open_orders, _ = store.list(category="new_order", status="open", limit=10, cursor=None)
    assert [r.error_id for r in open_orders] == ["new_order:key-5", "new_order:key-1"]

    page, cursor = store.list(category=None, status="open", limit=2, cursor=None)
    assert [r.error_id for r in page] == ["new_order:key-5", "account_update:key-4"]
    rest, cursor = store.list(category=None, status="open", limit=10, cursor=cursor)
    assert [r.error_id for r in rest] == ["account_update:key-2", "new_order:key-1", "account_update:key-0"]
    assert cursor is None


def test_a_cursor_from_another_filter_or_garbage_is_a_422(store: DynamoErrorStore) -> None:
    for n in range(3):
        store.record(record(n))
    _, cursor = store.list(category=None, status=None, limit=1, cursor=None)
    assert cursor is not None

    with pytest.raises(errors.InvalidInput):
        store.list(category="account_update", status=None, limit=1, cursor=cursor)
    with pytest.raises(errors.InvalidInput):
        store.list(category=None, status=None, limit=1, cursor="not-a-cursor")


def test_set_status_and_reopen_on_a_repeat(store: DynamoErrorStore) -> None:
    store.record(record(1))
    replaying = store.set_status("account_update:key-1", ErrorStatus.REPLAYING.value, note="by admin")
    assert replaying.status == ErrorStatus.REPLAYING
    assert replaying.note == "by admin"

    store.record(record(1))
    stored = store.get("account_update:key-1")
    assert stored is not None
    assert stored.status == ErrorStatus.OPEN

    with pytest.raises(errors.NotFound):
        store.set_status("missing", ErrorStatus.RESOLVED.value)


def test_notification_is_claimed_once_and_can_be_released(store: DynamoErrorStore) -> None:
    store.record(record(1))

    assert store.claim_notification("account_update:key-1") is True
    assert store.claim_notification("account_update:key-1") is False
    stored = store.get("account_update:key-1")
    assert stored is not None
    assert stored.notified_at is not None
    store.release_notification("account_update:key-1")
    assert store.claim_notification("account_update:key-1") is True
    assert store.claim_notification("missing") is False

"""Card stock on the built-in ledger's LedgerTable: ``DynamoDbLedger.import_cards``.

Each number becomes ``CARD#{number}`` / ``CARD`` (kind physical, state unregistered, the
batch it came in), the same item ``attach_card`` turns into a member's card. Numbers go in
TransactWriteItems of up to 100 puts, each ``attribute_not_exists(pk)``: a number known
already (an earlier batch, a card in use) fails its condition, is counted ``already_known``
and never overwritten (a registered card keeps its member); the rest of its chunk is
written again without it. 10,000 numbers are about 100 calls.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from loyalty_bridge.adapters.aws_errors import RETRYABLE_CODES, error_code
from loyalty_bridge.errors import PlatformError, PlatformUnavailable
from loyalty_bridge.models.card_stock import CardImportResult
from loyalty_bridge.models.domain import CardKind, CardState
from loyalty_bridge.services.card_stock import result, screen

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

CHUNK = 100  # TransactWriteItems' item limit
_MAX_TRIES = 8
_SERIALIZER = TypeSerializer()
_BUSY = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})


def import_cards(
    db: DynamoDBClient,
    table: str,
    batch_id: str,
    numbers: Sequence[str],
    *,
    now: datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> CardImportResult:
    screened = screen(numbers)
    stamp = (now or datetime.now(UTC)).isoformat()
    imported = known = 0
    for start in range(0, len(screened.valid), CHUNK):
        added, skipped = _write_chunk(
            db, table, batch_id, stamp, screened.valid[start : start + CHUNK], sleep
        )
        imported += added
        known += skipped
    return result(batch_id, imported, known, screened.invalid)


def _card_put(table: str, number: str, batch_id: str, stamp: str) -> dict[str, Any]:
    item = {
        "pk": f"CARD#{number}",
        "sk": "CARD",
        "number": number,
        "kind": CardKind.PHYSICAL.value,
        "state": CardState.UNREGISTERED.value,
        "batch_id": batch_id,
        "imported_at": stamp,
    }
    return {
        "Put": {
            "TableName": table,
            "Item": {k: _SERIALIZER.serialize(v) for k, v in item.items()},
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }


def _write_chunk(
    db: DynamoDBClient,
    table: str,
    batch_id: str,
    stamp: str,
    chunk: list[str],
    sleep: Callable[[float], None],
) -> tuple[int, int]:
    """(written, known already) for one chunk of distinct numbers."""
    pending = list(chunk)
    known = 0
    for attempt in range(_MAX_TRIES):
        if not pending:
            return 0, known
        try:
            db.transact_write_items(TransactItems=[_card_put(table, n, batch_id, stamp) for n in pending])  # type: ignore[misc]
            return len(pending), known
        except ClientError as exc:
            code = error_code(exc)
            reasons = [str(r.get("Code", "")) for r in exc.response.get("CancellationReasons", [])]
            if code == "TransactionCanceledException" and "ConditionalCheckFailed" in reasons:
                exists = {
                    pending[i] for i, reason in enumerate(reasons) if reason == "ConditionalCheckFailed"
                }
                known += len(exists)
                pending = [n for n in pending if n not in exists]
                continue
            busy = code in RETRYABLE_CODES or code == "TransactionConflictException" or _BUSY & set(reasons)
            if not busy:
                raise PlatformError("ledger card import failed", code="ledger_error", aws_code=code) from exc
        except BotoCoreError:
            pass  # unreachable for a moment: try again below
        sleep(random.uniform(0, min(1.0, 0.02 * 2**attempt)))  # noqa: S311 - jitter, not secrets
    raise PlatformUnavailable("ledger busy: card import did not complete; send the batch again")

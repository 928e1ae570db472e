"""Card stock on the built-in ledger's LedgerTable: ``DynamoDbLedger.import_cards``.

Each number becomes ``CARD#{number}`` / ``CARD`` (kind physical, state unregistered, the
batch it came in), the same item ``attach_card`` turns into a member's card. Per chunk of
100 numbers: one BatchGetItem finds the numbers that are cards already (so a repeated
batch costs reads only), then each new one is a conditional PutItem
(``attribute_not_exists(pk)``, a few in parallel): a number another import wrote meanwhile
fails its condition. Either way a known number is counted ``already_known`` and never
overwritten (a registered card keeps its member). Single puts, not transactions: a card
stands alone, and a put costs half a transactional write.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from loyalty_bridge.adapters.aws_errors import RETRYABLE_CODES, error_code
from loyalty_bridge.errors import PlatformError, PlatformUnavailable
from loyalty_bridge.models.card_stock import CardImportResult
from loyalty_bridge.models.domain import CardKind, CardState
from loyalty_bridge.program.card_stock import result, screen

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

CHUNK = 100  # BatchGetItem's key limit
WRITERS = 8  # parallel puts (boto3 clients are thread-safe)
_MAX_TRIES = 8
_SERIALIZER = TypeSerializer()


def import_cards(
    db: DynamoDBClient, table: str, batch_id: str, numbers: Sequence[str], *, now: datetime | None = None
) -> CardImportResult:
    screened = screen(numbers)
    stamp = (now or datetime.now(UTC)).isoformat()
    imported = known = 0
    with ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="card-import") as pool:
        for start in range(0, len(screened.valid), CHUNK):
            chunk = screened.valid[start : start + CHUNK]
            existing = _known(db, table, chunk)
            new = [n for n in chunk if n not in existing]
            written = sum(pool.map(lambda n: _put_card(db, table, n, batch_id, stamp), new))
            imported += written
            known += len(existing) + len(new) - written
    return result(batch_id, imported, known, screened.invalid)


def _put_card(db: DynamoDBClient, table: str, number: str, batch_id: str, stamp: str) -> bool:
    """True when written, False when the number is a card already."""
    item = {
        "pk": f"CARD#{number}",
        "sk": "CARD",
        "number": number,
        "kind": CardKind.PHYSICAL.value,
        "state": CardState.UNREGISTERED.value,
        "batch_id": batch_id,
        "imported_at": stamp,
    }
    try:
        db.put_item(
            TableName=table,
            Item={k: _SERIALIZER.serialize(v) for k, v in item.items()},
            ConditionExpression="attribute_not_exists(pk)",
        )
    except ClientError as exc:
        code = error_code(exc)
        if code == "ConditionalCheckFailedException":
            return False
        if code in RETRYABLE_CODES:
            raise PlatformUnavailable("ledger card import: DynamoDB busy; send the batch again") from None
        raise PlatformError("ledger card import failed", code="ledger_error", aws_code=code) from exc
    except BotoCoreError:
        raise PlatformUnavailable("ledger card import: DynamoDB unreachable; send the batch again") from None
    return True


def _known(db: DynamoDBClient, table: str, numbers: list[str]) -> set[str]:
    """The numbers of ``numbers`` (at most 100) that are cards already."""
    keys = [(f"CARD#{n}", "CARD") for n in numbers]
    return {str(item["pk"]["S"]).removeprefix("CARD#") for item in batch_items(db, table, keys, "pk")}


def batch_items(
    db: DynamoDBClient, table: str, keys: list[tuple[str, str]], projection: str | None = None
) -> list[dict[str, Any]]:
    """The items (attribute values, as DynamoDB answers them) of at most 100 keys that exist:
    one BatchGetItem, again for the keys it left unprocessed."""
    found: list[dict[str, Any]] = []
    wanted: dict[str, Any] = {"Keys": [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in keys]}
    if projection:
        wanted["ProjectionExpression"] = projection
    request: dict[str, Any] = {table: wanted}
    for attempt in range(_MAX_TRIES):
        try:
            answer = db.batch_get_item(RequestItems=request)
        except (ClientError, BotoCoreError):
            raise PlatformUnavailable("ledger import: DynamoDB unreachable or busy") from None
        found.extend(answer.get("Responses", {}).get(table, []))
        request = dict(answer.get("UnprocessedKeys") or {})
        if not request:
            return found
        time.sleep(random.uniform(0, min(1.0, 0.02 * 2**attempt)))  # noqa: S311 - jitter, not a secret
    raise PlatformUnavailable("ledger import: reads throttled; send the batch again")

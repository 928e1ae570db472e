"""ErrorStore (ports.py) over the ErrorsTable (DynamoDB).

One item per ``error_id`` (deterministic per failure, so the same failure is stored once):
- ``data``: the ErrorRecord as JSON (its immutable part: what, whom, before/after, replay);
- top-level ``status``, ``attempts``, ``updated_at``, ``note``, ``platform_answer``,
  ``notified_at``: the parts that change after the first write, updated in place;
- index keys: ``list_pk`` (a constant) + ``created_sk`` for the ``by_time`` GSI (every error,
  newest first) and ``category`` + ``created_sk`` for ``by_category``.

Listing is paged with an opaque cursor (base64url JSON of the last returned item's keys).
"""

from __future__ import annotations

import base64
import binascii
import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from loyalty_bridge import errors
from loyalty_bridge.adapters.aws_errors import code_of, raise_if_retryable
from loyalty_bridge.models.records import ErrorRecord, ErrorStatus, utcnow

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

LIST_PK = "ERRORS"
BY_TIME = "by_time"
BY_CATEGORY = "by_category"
MAX_PAGE = 100

# Top-level attributes that override what ``data`` says (they change after the first write).
_MUTABLE = ("status", "attempts", "updated_at", "note", "platform_answer", "notified_at")

_code = code_of


def _technical(exc: Exception) -> None:
    raise_if_retryable(exc, "error store")


def _created_sk(record: ErrorRecord) -> str:
    # ISO 8601 UTC sorts as text; the error id breaks ties between errors of the same instant.
    return f"{record.created_at.isoformat()}#{record.error_id}"


def encode_cursor(key: dict[str, str]) -> str:
    raw = json.dumps(key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, expected_keys: set[str]) -> dict[str, str]:
    """The key a cursor stands for; InvalidInput when it is not one we issued for this query."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error):
        value = None
    if (
        not isinstance(value, dict)
        or set(value) != expected_keys
        or not all(isinstance(v, str) and 0 < len(v) <= 600 for v in value.values())
    ):
        raise errors.InvalidInput(
            "The cursor is not valid for this listing.",
            code="invalid_cursor",
            errors=[{"field": "cursor", "message": "invalid cursor"}],
        )
    return {str(k): str(v) for k, v in value.items()}


class DynamoErrorStore:
    """ErrorStore (ports.py) over the ErrorsTable."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

        self._client = client
        self._table = table_name
        self._ser = TypeSerializer()
        self._de = TypeDeserializer()

    # ------------------------------------------------------------------ helpers

    def _av(self, values: dict[str, Any]) -> dict[str, Any]:
        return {k: self._ser.serialize(v) for k, v in values.items() if v is not None}

    def _key(self, error_id: str) -> dict[str, Any]:
        return self._av({"error_id": error_id})

    def _from_item(self, item: dict[str, Any]) -> ErrorRecord:
        plain = {k: self._de.deserialize(v) for k, v in item.items()}
        data = json.loads(str(plain["data"]))
        for name in _MUTABLE:
            if name in plain:
                value = plain[name]
                data[name] = int(value) if isinstance(value, Decimal) else value
        return ErrorRecord.model_validate(data)

    # ------------------------------------------------------------------ port

    def _item_of(self, record: ErrorRecord) -> dict[str, Any]:
        data = record.model_dump(mode="json")
        item = {
            "error_id": record.error_id,
            "list_pk": LIST_PK,
            "created_sk": _created_sk(record),
            "category": record.category.value,
            "data": json.dumps(data, separators=(",", ":"), default=str),
            "status": record.status.value,
            "attempts": record.attempts,
            "updated_at": data["updated_at"],
            "note": record.note,
            "platform_answer": record.platform_answer,
            "notified_at": data.get("notified_at"),
        }
        if record.customer_id:
            item["customer_id"] = record.customer_id
        return item

    def record(self, record: ErrorRecord) -> bool:
        item = self._item_of(record)
        try:
            self._client.put_item(
                TableName=self._table,
                Item=self._av(item),
                ConditionExpression="attribute_not_exists(error_id)",
            )
        except Exception as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                _technical(exc)
                raise
        else:
            return True
        self._again(record)
        return False

    def _again(self, record: ErrorRecord) -> None:
        """The same failure happened again: count it, keep the latest answer, and reopen it
        if an admin's replay (or a fix) had moved it on."""
        try:
            answer = self._client.update_item(
                TableName=self._table,
                Key=self._key(record.error_id),
                UpdateExpression="ADD attempts :one SET updated_at = :now, platform_answer = :answer",
                ExpressionAttributeValues=self._av(
                    {":one": 1, ":now": utcnow().isoformat(), ":answer": record.platform_answer}
                ),
                ReturnValues="ALL_NEW",
            )
        except Exception as exc:
            _technical(exc)
            raise
        status = self._de.deserialize(answer["Attributes"]["status"])
        if status != ErrorStatus.OPEN.value:
            self.set_status(record.error_id, ErrorStatus.OPEN.value, note="failed again after a replay")

    # ------------------------------------------------------------ data rights (D1, D2)

    def of_customer(self, customer_id: str) -> list[ErrorRecord]:
        """Every record about ``customer_id``, oldest first (a paged scan: an export or an
        erasure asks, rarely)."""
        scan: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "customer_id = :c",
            "ExpressionAttributeValues": self._av({":c": customer_id}),
        }
        found: list[ErrorRecord] = []
        while True:
            try:
                answer = self._client.scan(**scan)
            except Exception as exc:
                _technical(exc)
                raise
            found.extend(self._from_item(item) for item in answer.get("Items", []))
            if not answer.get("LastEvaluatedKey"):
                return sorted(found, key=lambda record: record.created_at)
            scan["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def overwrite(self, record: ErrorRecord, *, previous_id: str) -> None:
        """Store ``record`` in place of ``previous_id`` (an erasure pseudonymises a record)."""
        try:
            self._client.put_item(TableName=self._table, Item=self._av(self._item_of(record)))
            if record.error_id != previous_id:
                self._client.delete_item(TableName=self._table, Key=self._key(previous_id))
        except Exception as exc:
            _technical(exc)
            raise

    def get(self, error_id: str) -> ErrorRecord | None:
        try:
            answer = self._client.get_item(
                TableName=self._table, Key=self._key(error_id), ConsistentRead=True
            )
        except Exception as exc:
            _technical(exc)
            raise
        item = answer.get("Item")
        return self._from_item(item) if item else None

    def list(
        self, *, category: str | None, status: str | None, limit: int, cursor: str | None
    ) -> tuple[list[ErrorRecord], str | None]:
        limit = max(1, min(limit, MAX_PAGE))
        if category:
            index, hash_name, hash_value = BY_CATEGORY, "category", category
        else:
            index, hash_name, hash_value = BY_TIME, "list_pk", LIST_PK
        key_names = {"error_id", hash_name, "created_sk"}
        params: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": index,
            "KeyConditionExpression": "#h = :h",
            "ExpressionAttributeNames": {"#h": hash_name},
            "ExpressionAttributeValues": self._av({":h": hash_value}),
            "ScanIndexForward": False,  # newest first
        }
        if status:
            params["FilterExpression"] = "#s = :s"
            params["ExpressionAttributeNames"]["#s"] = "status"
            params["ExpressionAttributeValues"].update(self._av({":s": status}))
        start = decode_cursor(cursor, key_names) if cursor else None
        if start is not None and start[hash_name] != hash_value:
            raise errors.InvalidInput(
                "The cursor is not valid for this listing.",
                code="invalid_cursor",
                errors=[{"field": "cursor", "message": "cursor belongs to another filter"}],
            )

        found: list[dict[str, Any]] = []
        more = False
        while True:
            page_params = dict(params, Limit=limit + 1 if not status else max(limit * 2, 25))
            if start is not None:
                page_params["ExclusiveStartKey"] = self._av(start)
            try:
                answer = self._client.query(**page_params)
            except Exception as exc:
                _technical(exc)
                raise
            items: list[dict[str, Any]] = answer.get("Items", [])
            room = limit - len(found)
            found.extend(items[:room])
            last_key = answer.get("LastEvaluatedKey")
            if len(items) > room:
                more = True
                break
            if not last_key or len(found) >= limit:
                more = bool(last_key)
                break
            start = {k: str(self._de.deserialize(v)) for k, v in last_key.items()}

        records = [self._from_item(item) for item in found]
        next_cursor = None
        if more and found:
            last = {k: str(self._de.deserialize(found[-1][k])) for k in key_names}
            next_cursor = encode_cursor(last)
        return records, next_cursor

    def set_status(self, error_id: str, status: str, *, note: str = "") -> ErrorRecord:
        ErrorStatus(status)  # only the known statuses
        try:
            answer = self._client.update_item(
                TableName=self._table,
                Key=self._key(error_id),
                UpdateExpression="SET #s = :s, note = :note, updated_at = :now",
                ConditionExpression="attribute_exists(error_id)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=self._av(
                    {":s": status, ":note": note, ":now": utcnow().isoformat()}
                ),
                ReturnValues="ALL_NEW",
            )
        except Exception as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                raise errors.NotFound("No such error.", code="error_not_found") from exc
            _technical(exc)
            raise
        return self._from_item(answer["Attributes"])

    def claim_notification(self, error_id: str) -> bool:
        """Mark the admins as being told about ``error_id``; False if someone already did
        (so two deliveries of one failure never send two emails)."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(error_id),
                UpdateExpression="SET notified_at = :now",
                ConditionExpression="attribute_exists(error_id) AND attribute_not_exists(notified_at)",
                ExpressionAttributeValues=self._av({":now": utcnow().isoformat()}),
            )
        except Exception as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                return False
            _technical(exc)
            raise
        return True

    def release_notification(self, error_id: str) -> None:
        """The email could not be sent: let the next report of this failure try again."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(error_id),
                UpdateExpression="REMOVE notified_at",
                ConditionExpression="attribute_exists(error_id)",
            )
        except Exception as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                return
            _technical(exc)
            raise

"""ports.VerificationStore over BridgeTable.

Items (pk, sk):
- ``VERIFY#{customer_id}`` / ``{purpose}``: a one-time-code challenge (hash only), expiring by TTL.
- ``ATTEMPTS#{key}`` / ``W#{window_start}``: a fixed-window attempt counter, expiring by TTL.

Tries are spent with a conditional update, so two parallel guesses cannot both use the last try.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from loyalty_bridge.adapters.aws_errors import unless_condition_failed
from loyalty_bridge.adapters.customers import BridgeItems, plain
from loyalty_bridge.models.records import utcnow
from loyalty_bridge.models.verification import AttemptCount, Challenge, Purpose

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# Expired challenges stay readable a while (TTL deletion is lazy anyway), so the service
# can tell "expired" from "never asked".
_KEEP_AFTER_EXPIRY_SECONDS = 24 * 3600


def verify_pk(customer_id: str) -> str:
    return f"VERIFY#{customer_id}"


class DynamoVerificationStore(BridgeItems):
    def __init__(
        self, client: DynamoDBClient, table_name: str, *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        super().__init__(client, table_name)
        self._clock = clock

    def put_challenge(self, challenge: Challenge) -> None:
        data = challenge.model_dump(mode="json")
        data.update(
            pk=verify_pk(challenge.customer_id),
            sk=challenge.purpose.value,
            ttl=int(challenge.expires_at.timestamp()) + _KEEP_AFTER_EXPIRY_SECONDS,
        )
        try:
            self._client.put_item(TableName=self._table, Item=self._item(data))
        except (ClientError, BotoCoreError) as exc:
            self._fail(exc, "verification write")

    def get_challenge(self, customer_id: str, purpose: Purpose) -> Challenge | None:
        item = self._get(verify_pk(customer_id), purpose.value)
        return Challenge.model_validate(item) if item else None

    def use_try(self, customer_id: str, purpose: Purpose) -> int | None:
        answer = unless_condition_failed(
            lambda: self._client.update_item(
                TableName=self._table,
                Key=self._item({"pk": verify_pk(customer_id), "sk": purpose.value}),
                UpdateExpression="SET tries_left = tries_left - :one",
                ConditionExpression="attribute_exists(pk) AND tries_left > :zero",
                ExpressionAttributeValues=self._item({":one": 1, ":zero": 0}),
                ReturnValues="UPDATED_NEW",
            ),
            lambda exc: self._fail(exc, "verification write"),
        )
        if answer is None:
            return None
        values = self._from_item(answer.get("Attributes", {}))
        return int(values["tries_left"])

    def delete_challenge(self, customer_id: str, purpose: Purpose) -> None:
        try:
            self._client.delete_item(
                TableName=self._table, Key=self._item({"pk": verify_pk(customer_id), "sk": purpose.value})
            )
        except (ClientError, BotoCoreError) as exc:
            self._fail(exc, "verification write")

    def count_attempt(self, key: str, *, window_seconds: int) -> AttemptCount:
        now = int(self._clock().timestamp())
        start = now - now % window_seconds
        try:
            answer = self._client.update_item(
                TableName=self._table,
                Key=self._item({"pk": f"ATTEMPTS#{key}", "sk": f"W#{start}"}),
                UpdateExpression="ADD #c :one SET #t = :ttl",
                ExpressionAttributeNames={"#c": "count", "#t": "ttl"},
                ExpressionAttributeValues=self._item({":one": 1, ":ttl": start + window_seconds + 3600}),
                ReturnValues="UPDATED_NEW",
            )
        except (ClientError, BotoCoreError) as exc:
            self._fail(exc, "attempt counter")
        count = int(plain(self._de.deserialize(answer["Attributes"]["count"])))
        return AttemptCount(count=count, retry_after=max(start + window_seconds - now, 1))

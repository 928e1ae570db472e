"""In-memory fakes for the HTTP plumbing: secrets and the Powertools idempotency store."""

from __future__ import annotations

import copy
import time
from typing import Any

from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import STATUS_CONSTANTS, DataRecord

from loyalty_bridge.adapters.secrets import SecretNotFound


class InMemorySecrets:
    """JsonSecretSource over a dict ``{name: value}``; counts reads per name."""

    def __init__(self, secrets: dict[str, Any] | None = None) -> None:
        self.secrets: dict[str, Any] = dict(secrets or {})
        self.reads: dict[str, int] = {}
        self.fail_with: Exception | None = None

    def read_json_secret(self, arn_or_name: str) -> dict[str, Any]:
        self.reads[arn_or_name] = self.reads.get(arn_or_name, 0) + 1
        if self.fail_with is not None:
            raise self.fail_with
        if arn_or_name not in self.secrets:
            raise SecretNotFound("secret not found")
        value = self.secrets[arn_or_name]
        return dict(value) if isinstance(value, dict) else value  # type: ignore[no-any-return]


class InMemoryIdempotencyStore(BasePersistenceLayer):
    """Powertools persistence layer with the DynamoDB layer's conditional-put rules."""

    def __init__(self) -> None:
        super().__init__()
        self.records: dict[str, DataRecord] = {}

    def _get_record(self, idempotency_key: str) -> DataRecord:
        record = self.records.get(idempotency_key)
        if record is None:
            raise IdempotencyItemNotFoundError
        return copy.copy(record)

    def _put_record(self, data_record: DataRecord) -> None:
        existing = self.records.get(data_record.idempotency_key)
        now = time.time()
        if existing is not None:
            expired = existing.expiry_timestamp is not None and existing.expiry_timestamp < now
            in_progress_expired = (
                existing._status == STATUS_CONSTANTS["INPROGRESS"]
                and existing.in_progress_expiry_timestamp is not None
                and existing.in_progress_expiry_timestamp < now * 1000
            )
            if not (expired or in_progress_expired):
                raise IdempotencyItemAlreadyExistsError
        self.records[data_record.idempotency_key] = copy.copy(data_record)

    def _update_record(self, data_record: DataRecord) -> None:
        self.records[data_record.idempotency_key] = copy.copy(data_record)

    def _delete_record(self, data_record: DataRecord) -> None:
        self.records.pop(data_record.idempotency_key, None)

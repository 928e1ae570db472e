"""The IdempotencyTable: Powertools' DynamoDB persistence, whose record a change can
complete in its own transaction (answers.py, issue 19).

``completion_item`` is the same update Powertools makes after the route (status, answer,
expiry, payload hash), as one item of the change's TransactWriteItems, conditional on the
record still being in progress. ``save_success`` then writes nothing when that
transaction committed exactly the answer the route gave: Powertools' own update, made
when it did not (a route that answered differently, a transaction that left the record
out), still completes the record with the answer actually sent.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.shared.json_encoder import Encoder
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import STATUS_CONSTANTS

from loyalty_bridge import answers


def response_data(result: dict[str, Any]) -> str:
    """The answer as Powertools stores it (BasePersistenceLayer.save_success)."""
    return json.dumps(result, cls=Encoder, sort_keys=True)


class IdempotencyRecords(DynamoDBPersistenceLayer):
    def completion_item(self, data: dict[str, Any], result: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """The transaction item completing ``data``'s record with ``result``, and the stored
        answer it writes."""
        key = self._get_hashed_idempotency_key(data=data)
        if key is None:  # pragma: no cover - the config raises on a request without a key
            raise ValueError("no idempotency key")
        stored = response_data(result)
        expression = "SET #response_data = :response_data, #expiry = :expiry, #status = :status"
        names = {"#response_data": self.data_attr, "#expiry": self.expiry_attr, "#status": self.status_attr}
        values: dict[str, Any] = {
            ":response_data": {"S": stored},
            ":expiry": {"N": str(self._get_expiry_timestamp())},
            ":status": {"S": STATUS_CONSTANTS["COMPLETED"]},
            ":in_progress": {"S": STATUS_CONSTANTS["INPROGRESS"]},
        }
        if self.payload_validation_enabled:
            expression += ", #validation_key = :validation_key"
            names["#validation_key"] = self.validation_key_attr
            values[":validation_key"] = {"S": self._get_hashed_payload(data=data)}
        update = {
            "TableName": self.table_name,
            "Key": self._get_key(key),
            "UpdateExpression": expression,
            # Still this request's claim: an expired claim taken over by a retry is not
            # overwritten (the change is then written without it: answers.declined).
            "ConditionExpression": "#status = :in_progress",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        return {"Update": update}, stored

    def save_success(self, data: dict[str, Any], result: dict[str, Any]) -> None:
        current = answers.current()
        if current is not None and current.completed_with(response_data(result)):
            return  # the change's transaction completed the record with this very answer
        super().save_success(data, result)

"""CheckoutStore (ports.py) over the BridgeTable.

Items (pk, sk):
- ``ORDER#{order_id}`` / ``ORDER``: the OrderRecord (``record``), its credit (``credit``,
  written once under a condition) and the platform's last refusal (``failure``).
- ``ORDER#{order_id}`` / ``REVERSAL#{reversal_id}``: one refund or the cancellation, once.
- ``REDEMPTION#{redemption_id}`` / ``REDEMPTION``: who owns a hold, and its state.
- ``CART#{customer_id}#{cart_id}`` / ``REDEMPTION``: the cart's current hold.

Records are stored as JSON strings: they are read whole and never queried by field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from loyalty_bridge.adapters.aws_errors import error_code, get_many, raise_domain_error
from loyalty_bridge.models.checkout_records import (
    OrderLoyalty,
    OrderRecord,
    RedemptionRecord,
    RedemptionStatus,
    ReversalRecord,
)
from loyalty_bridge.models.domain import OrderResult
from loyalty_bridge.models.records import utcnow

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

ORDER = "ORDER"
REDEMPTION = "REDEMPTION"
REVERSAL_PREFIX = "REVERSAL#"
# Redemption records are only needed while the hold can still be released or captured.
REDEMPTION_KEEP = timedelta(days=30)


def order_pk(order_id: str) -> str:
    return f"ORDER#{order_id}"


def redemption_pk(redemption_id: str) -> str:
    return f"REDEMPTION#{redemption_id}"


def cart_pk(customer_id: str, cart_id: str) -> str:
    return f"CART#{customer_id}#{cart_id}"


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": _s(pk), "sk": _s(sk)}


class DynamoCheckoutStore:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def _call(self, what: str, operation: str, **params: Any) -> Any:
        try:
            return getattr(self._client, operation)(TableName=self._table, **params)
        except (ClientError, BotoCoreError) as exc:
            raise_domain_error(exc, f"checkout store {what}")

    def _put_once(self, what: str, item: dict[str, Any]) -> bool:
        try:
            self._client.put_item(
                TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)"
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise_domain_error(exc, f"checkout store {what}")
        except BotoCoreError as exc:
            raise_domain_error(exc, f"checkout store {what}")
        return True

    # ------------------------------------------------------------------ orders

    def get_order_for_reversal(
        self, order_id: str, reversal_id: str, also: Sequence[Mapping[str, Any]] = ()
    ) -> tuple[OrderRecord | None, list[dict[str, Any] | None]]:
        """The order's record, with ``reversal_id`` alone among its reversals (when it was
        made: the one a refund or cancel needs to know), and the items at ``also``
        (``{"TableName", "Key"}``: what the platform reads for the reversal,
        services/new_changes.ReadsForReversal), in one BatchGetItem. Items not found are
        None; the record is None when the order is unknown."""
        pk = order_pk(order_id)
        wanted = [
            {"TableName": self._table, "Key": _key(pk, ORDER)},
            {"TableName": self._table, "Key": _key(pk, REVERSAL_PREFIX + reversal_id)},
            *also,
        ]
        head, done, *rest = self._get_many(wanted)
        if head is None:
            return None, rest
        return _order_record(head, [done] if done is not None else []), rest

    def _get_many(self, wanted: Sequence[Mapping[str, Any]]) -> list[dict[str, Any] | None]:
        """Consistent reads of ``wanted`` (one BatchGetItem, its unprocessed keys again)."""
        return get_many(self._client, wanted, what="checkout store read")

    def get_order(self, order_id: str) -> OrderRecord | None:
        items: list[dict[str, Any]] = []
        params: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": _s(order_pk(order_id))},
            "ConsistentRead": True,
        }
        while True:
            page = self._call("read", "query", **params)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        head = next((item for item in items if item["sk"]["S"] == ORDER), None)
        if head is None:
            return None
        return _order_record(head, [item for item in items if item["sk"]["S"].startswith(REVERSAL_PREFIX)])

    @staticmethod
    def _order_item(record: OrderRecord) -> dict[str, Any]:
        body = record.model_dump(mode="json", exclude={"credit", "failure", "reversals"})
        return {**_key(order_pk(record.order_id), ORDER), "record": _s(json.dumps(body))}

    def create_order(self, record: OrderRecord) -> bool:
        return self._put_once("write", self._order_item(record))

    def credited_order_items(self, record: OrderRecord, member_id: str, result: OrderResult) -> list[Any]:
        """A new order's record with its credit, as one Put for the ledger's transaction
        (services/new_changes.ChangeRecordItems): what create_order then record_credit
        store, written only if no record of the order exists."""
        item = {
            **self._order_item(record),
            "credit": _s(result.model_dump_json()),
            "member_id": _s(member_id),
            "loyalty": _s(OrderLoyalty.MEMBER.value),
        }
        put = {"TableName": self._table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}
        return [{"Put": put}]

    def record_credit(self, order_id: str, member_id: str, result: OrderResult) -> tuple[OrderResult, bool]:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_key(order_pk(order_id), ORDER),
                UpdateExpression="SET credit = :c, member_id = :m, loyalty = :l REMOVE failure",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(credit)",
                ExpressionAttributeValues={
                    ":c": _s(result.model_dump_json()),
                    ":m": _s(member_id),
                    ":l": _s(OrderLoyalty.MEMBER.value),
                },
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise_domain_error(exc, "checkout store write")
            stored = self.get_order(order_id)
            if stored is None or stored.credit is None:
                raise  # no order record: a programming error, not a race
            return stored.credit, False
        except BotoCoreError as exc:
            raise_domain_error(exc, "checkout store write")
        return result, True

    def record_failure(self, order_id: str, answer: str) -> None:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_key(order_pk(order_id), ORDER),
                UpdateExpression="SET failure = :f",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(credit)",
                ExpressionAttributeValues={":f": _s(answer[:2000])},
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":  # credited meanwhile: keep it
                raise_domain_error(exc, "checkout store write")
        except BotoCoreError as exc:
            raise_domain_error(exc, "checkout store write")

    def set_order_loyalty(self, order_id: str, loyalty: str, member_id: str | None) -> None:
        values: dict[str, Any] = {":l": _s(OrderLoyalty(loyalty).value)}
        expression = "SET loyalty = :l"
        if member_id:
            expression += ", member_id = :m"
            values[":m"] = _s(member_id)
        self._call(
            "write",
            "update_item",
            Key=_key(order_pk(order_id), ORDER),
            UpdateExpression=expression,
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues=values,
        )

    def reversal_items(self, order_id: str, reversal: ReversalRecord) -> list[Any]:
        """A new reversal record, as one Put for the ledger's transaction (as
        credited_order_items): what record_reversal stores, written only if not there."""
        put = {
            "TableName": self._table,
            "Item": self._reversal_item(order_id, reversal),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
        return [{"Put": put}]

    @staticmethod
    def _reversal_item(order_id: str, reversal: ReversalRecord) -> dict[str, Any]:
        return {
            **_key(order_pk(order_id), REVERSAL_PREFIX + reversal.reversal_id),
            "record": _s(reversal.model_dump_json()),
        }

    def record_reversal(self, order_id: str, reversal: ReversalRecord) -> tuple[ReversalRecord, bool]:
        item = self._reversal_item(order_id, reversal)
        if self._put_once("write", item):
            return reversal, True
        answer = self._call(
            "read",
            "get_item",
            Key=_key(order_pk(order_id), REVERSAL_PREFIX + reversal.reversal_id),
            ConsistentRead=True,
        )
        return ReversalRecord.model_validate_json(answer["Item"]["record"]["S"]), False

    # ------------------------------------------------------------------ redemptions

    def get_redemption(self, redemption_id: str) -> RedemptionRecord | None:
        answer = self._call(
            "read", "get_item", Key=_key(redemption_pk(redemption_id), REDEMPTION), ConsistentRead=True
        )
        item = answer.get("Item")
        if not item or "record" not in item:  # none, or only a release of an expired record
            return None
        record = RedemptionRecord.model_validate_json(item["record"]["S"])
        if "status" in item:  # released or captured in a transaction (_redemption_status_items)
            update: dict[str, Any] = {"status": RedemptionStatus(item["status"]["S"])}
            if "order_id" in item:
                update["order_id"] = item["order_id"]["S"]
            record = record.model_copy(update=update)
        return record

    def put_redemption(self, record: RedemptionRecord) -> None:
        self._call("write", "put_item", Item=self._redemption_item(record))

    def redemption_items(self, record: RedemptionRecord) -> list[Any]:
        """A new hold's record, as one Put for the ledger's transaction (as
        credited_order_items; its id is new, so nothing is there to find)."""
        return [{"Put": {"TableName": self._table, "Item": self._redemption_item(record)}}]

    def released_redemption_items(self, redemption_id: str) -> list[Any]:
        """A hold's record marked released, as one Update for the transaction of the hold
        that replaces it (its record is not read first; the status beside the record's
        JSON wins when read)."""
        return self._redemption_status_items(redemption_id, RedemptionStatus.RELEASED)

    def _redemption_status_items(
        self, redemption_id: str, status: RedemptionStatus, *, order_id: str | None = None
    ) -> list[Any]:
        names = {"#status": "status", "#ttl": "ttl"}
        values: dict[str, Any] = {
            ":status": _s(status.value),
            ":ttl": {"N": str(int((utcnow() + REDEMPTION_KEEP).timestamp()))},
        }
        # A record already gone (its TTL) leaves only this, which expires in turn.
        expression = "SET #status = :status, #ttl = if_not_exists(#ttl, :ttl)"
        if order_id is not None:
            expression += ", #order = :order"
            names["#order"] = "order_id"
            values[":order"] = _s(order_id)
        update = {
            "TableName": self._table,
            "Key": _key(redemption_pk(redemption_id), REDEMPTION),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        return [{"Update": update}]

    def captured_redemption_items(self, redemption_id: str, order_id: str) -> list[Any]:
        """A hold's record marked captured by its order, as one Update for the order's
        transaction (as released_redemption_items)."""
        return self._redemption_status_items(redemption_id, RedemptionStatus.CAPTURED, order_id=order_id)

    @staticmethod
    def _redemption_item(record: RedemptionRecord) -> dict[str, Any]:
        ttl = int((record.expires_at + REDEMPTION_KEEP).timestamp())
        return {
            **_key(redemption_pk(record.redemption_id), REDEMPTION),
            "record": _s(record.model_dump_json()),
            "ttl": {"N": str(ttl)},
        }

    def set_redemption_status(self, redemption_id: str, status: str, *, order_id: str | None = None) -> None:
        record = self.get_redemption(redemption_id)
        if record is None:
            return
        update: dict[str, Any] = {"status": RedemptionStatus(status)}  # model_copy does not validate
        if order_id is not None:
            update["order_id"] = order_id
        self.put_redemption(record.model_copy(update=update))

    def swap_cart_redemption(self, customer_id: str, cart_id: str, redemption_id: str) -> str | None:
        ttl = int((utcnow() + REDEMPTION_KEEP).timestamp())
        answer = self._call(
            "write",
            "put_item",
            Item={
                **_key(cart_pk(customer_id, cart_id), REDEMPTION),
                "redemption_id": _s(redemption_id),
                "ttl": {"N": str(ttl)},
            },
            ReturnValues="ALL_OLD",
        )
        old = answer.get("Attributes", {}).get("redemption_id", {}).get("S")
        return str(old) if old and old != redemption_id else None


def _order_record(head: Mapping[str, Any], reversals: Sequence[Mapping[str, Any]]) -> OrderRecord:
    data = json.loads(head["record"]["S"])
    if "credit" in head:
        data["credit"] = json.loads(head["credit"]["S"])
    for name in ("failure", "member_id", "loyalty"):
        if name in head:
            data[name] = head[name]["S"]
    data["reversals"] = [json.loads(item["record"]["S"]) for item in reversals]
    return OrderRecord.model_validate(data)

"""StoreRegistry (ports.py) over the BridgeTable: points of sale and staff users (R6).

Items (pk, sk):
- ``DIRECTORY#STORES`` / ``STORE#{store_id}``: a store (name, channel, updated_at);
- ``DIRECTORY#STORES`` / ``#IN_USE``: written with the first store; while it is absent
  no store is registered and orders are not checked at all (as before stores existed);
- ``DIRECTORY#STAFF`` / ``STAFF#{staff_id}``: a staff user (name, store_id, role).

One partition per kind keeps the admin listings a Query (a retailer has hundreds of
stores, not millions). ``lookup`` is the order path's only read: one BatchGetItem of the
marker, the store and the staff user (eventually consistent: registering a store is an
admin action; an order a second later sees it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from loyalty_bridge import errors
from loyalty_bridge.adapters.aws_errors import batch_get, raise_domain_error
from loyalty_bridge.adapters.customers import BridgeItems
from loyalty_bridge.adapters.error_store import decode_cursor, encode_cursor
from loyalty_bridge.models.stores import DirectoryLookup, StaffMember, Store

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

STORES_PK = "DIRECTORY#STORES"
STAFF_PK = "DIRECTORY#STAFF"
IN_USE_SK = "#IN_USE"
_UNPROCESSED_TRIES = 3


def store_key(store_id: str) -> tuple[str, str]:
    return STORES_PK, f"STORE#{store_id}"


def staff_key(staff_id: str) -> tuple[str, str]:
    return STAFF_PK, f"STAFF#{staff_id}"


class DynamoStoreRegistry(BridgeItems):
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        super().__init__(client, table_name)

    # ------------------------------------------------------------ writes

    def put_store(self, store: Store) -> None:
        pk, sk = store_key(store.store_id)
        item = {"pk": pk, "sk": sk, **store.model_dump(mode="json")}
        try:
            # The store and the in-use marker in one write: no order is ever checked against
            # a directory that has the marker but not yet the store it was written for.
            self._client.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": self._table, "Item": self._item(item)}},
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": self._item({"pk": STORES_PK, "sk": IN_USE_SK}),
                        }
                    },
                ]
            )
        except (ClientError, BotoCoreError) as exc:
            raise_domain_error(exc, "store directory write")

    def put_staff(self, staff: StaffMember) -> None:
        pk, sk = staff_key(staff.staff_id)
        values = {"pk": pk, "sk": sk, **staff.model_dump(mode="json")}
        if staff.store_id is None:
            self._put(values)
            return
        store_pk, store_sk = store_key(staff.store_id)
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "ConditionCheck": {
                            "TableName": self._table,
                            "Key": self._item({"pk": store_pk, "sk": store_sk}),
                            "ConditionExpression": "attribute_exists(pk)",
                        }
                    },
                    {"Put": {"TableName": self._table, "Item": self._item(values)}},
                ]
            )
        except ClientError as exc:
            reasons = exc.response.get("CancellationReasons", [])
            if reasons and str(reasons[0].get("Code", "")) == "ConditionalCheckFailed":
                raise errors.UnknownStore(
                    "The staff member's store is not registered; register the store first.",
                    errors=[{"field": "store_id", "message": "unknown store"}],
                ) from None
            raise_domain_error(exc, "store directory write")
        except BotoCoreError as exc:
            raise_domain_error(exc, "store directory write")

    def _put(self, values: dict[str, Any]) -> None:
        try:
            self._client.put_item(TableName=self._table, Item=self._item(values))
        except (ClientError, BotoCoreError) as exc:
            raise_domain_error(exc, "store directory write")

    # ------------------------------------------------------------ reads

    def list_stores(self, *, limit: int, cursor: str | None) -> tuple[list[Store], str | None]:
        items, next_cursor = self._page(STORES_PK, "STORE#", limit, cursor)
        return [Store.model_validate(_fields(item)) for item in items], next_cursor

    def list_staff(self, *, limit: int, cursor: str | None) -> tuple[list[StaffMember], str | None]:
        items, next_cursor = self._page(STAFF_PK, "STAFF#", limit, cursor)
        return [StaffMember.model_validate(_fields(item)) for item in items], next_cursor

    def _page(
        self, pk: str, prefix: str, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": self._item({":pk": pk, ":prefix": prefix}),
            "Limit": limit,
        }
        if cursor:
            start = decode_cursor(cursor, {"pk", "sk"})
            if start["pk"] != pk or not start["sk"].startswith(prefix):
                raise errors.InvalidInput(
                    "The cursor is not valid for this listing.",
                    code="invalid_cursor",
                    errors=[{"field": "cursor", "message": "invalid cursor"}],
                )
            query["ExclusiveStartKey"] = self._item(start)
        try:
            answer = self._client.query(**query)
        except (ClientError, BotoCoreError) as exc:
            raise_domain_error(exc, "store directory read")
        items = [self._from_item(raw) for raw in answer.get("Items", [])]
        last = answer.get("LastEvaluatedKey")
        next_cursor = None
        if last and items:
            next_cursor = encode_cursor({"pk": str(items[-1]["pk"]), "sk": str(items[-1]["sk"])})
        return items, next_cursor

    def lookup(self, store_id: str | None, staff_id: str | None) -> DirectoryLookup:
        keys = [(STORES_PK, IN_USE_SK)]
        if store_id is not None:
            keys.append(store_key(store_id))
        if staff_id is not None:
            keys.append(staff_key(staff_id))
        found = self._batch_get(keys)
        store = found.get(store_key(store_id)) if store_id is not None else None
        staff = found.get(staff_key(staff_id)) if staff_id is not None else None
        return DirectoryLookup(
            any_store=(STORES_PK, IN_USE_SK) in found,
            store=Store.model_validate(_fields(store)) if store else None,
            staff=StaffMember.model_validate(_fields(staff)) if staff else None,
        )

    def _batch_get(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        request = {self._table: {"Keys": [self._item({"pk": pk, "sk": sk}) for pk, sk in keys]}}
        answer = batch_get(self._client, request, what="store directory read", tries=_UNPROCESSED_TRIES)
        items = (self._from_item(raw) for raw in answer.get(self._table, []))
        return {(str(item["pk"]), str(item["sk"])): item for item in items}


def _fields(item: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in item.items() if key not in ("pk", "sk")}

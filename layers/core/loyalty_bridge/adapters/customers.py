"""The bridge's own records in BridgeTable (DynamoDB): customers, A5 links, balance snapshots.

Items (pk, sk):
- ``CUSTOMER#{id}`` / ``PROFILE``: the CustomerRecord, with an optimistic ``version``.
- ``CUSTOMER#{id}`` / ``LINK``: the loyalty account this customer is linked to (A5).
- ``MEMBER#{member_id}`` / ``LINK`` and ``CARD#{number}`` / ``LINK``: uniqueness claims, so
  a loyalty account (and its card) belongs to at most one web customer (A5).
- ``MEMBER#{member_id}`` / ``BALANCE``: last known balance (login summary with a REST platform).
- ``MEMBERS`` / ``#ANY``: written before the first link (R9: the program's kind is fixed once
  any member exists), so ``any_member`` is one read.
- ``CUSTOMER_EMAIL#{sha256(trimmed lowercased email)}`` / ``CUSTOMER#{id}``: the email index
  (a Mailchimp webhook only knows the email). Several web accounts may share an email (the
  storefront owns web accounts), so one email has one item per customer. Hashed: no address
  in a key. The profile item keeps ``email_key`` (the hash it is indexed under).

The three LINK items are written in one TransactWriteItems: either every claim holds or
none is written. Re-linking the same customer to the same member and card is a no-op.
The email index is written in the same write as the profile item: with the new customer,
and whenever a save changes the email (the old entry is deleted in that transaction).
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NoReturn

from botocore.exceptions import BotoCoreError, ClientError

from loyalty_bridge.adapters.aws_errors import error_code, raise_domain_error
from loyalty_bridge.errors import Conflict, Retryable
from loyalty_bridge.models.domain import Balance
from loyalty_bridge.models.records import CustomerRecord, utcnow
from loyalty_bridge.privacy import normalize_email

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mypy_boto3_dynamodb import DynamoDBClient

PROFILE = "PROFILE"
LINK = "LINK"
BALANCE = "BALANCE"
MEMBERS_PK, ANY_MEMBER_SK = "MEMBERS", "#ANY"
_MAX_SHARED_EMAIL = 50  # web accounts looked at per email (a webhook acts on all of them)


def customer_pk(customer_id: str) -> str:
    return f"CUSTOMER#{customer_id}"


def member_pk(member_id: str) -> str:
    return f"MEMBER#{member_id}"


def card_pk(card_number: str) -> str:
    return f"CARD#{card_number}"


def email_key(email: str) -> str:
    """The email index partition of ``email`` (trimmed, case-insensitive, hashed)."""
    return "CUSTOMER_EMAIL#" + hashlib.sha256(normalize_email(email).encode()).hexdigest()


def plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal; integral ones become int again."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else value
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def _failed_conditions(exc: ClientError) -> set[int]:
    """The indexes of a cancelled transaction's items whose condition failed."""
    reasons: list[Any] = list(exc.response.get("CancellationReasons", []))
    return {n for n, r in enumerate(reasons) if str(r.get("Code", "")) == "ConditionalCheckFailed"}


def _version_conflict() -> Conflict:
    return Conflict("The customer was changed by another request; try again.", code="version_conflict")


class BridgeItems:
    """Serialisation shared by the BridgeTable adapters (low-level client, typed values)."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

        self._client = client
        self._table = table_name
        self._ser = TypeSerializer()
        self._de = TypeDeserializer()

    def _item(self, values: dict[str, Any]) -> dict[str, Any]:
        return {k: self._ser.serialize(v) for k, v in values.items() if v is not None}

    def _from_item(self, item: dict[str, Any]) -> dict[str, Any]:
        return {k: plain(self._de.deserialize(v)) for k, v in item.items()}

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        try:
            answer = self._client.get_item(
                TableName=self._table, Key=self._item({"pk": pk, "sk": sk}), ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise_domain_error(exc, "bridge table read")
        item = answer.get("Item")
        return self._from_item(item) if item else None

    @staticmethod
    def _fail(exc: ClientError | BotoCoreError, what: str) -> NoReturn:
        raise_domain_error(exc, what)


class DynamoCustomers(BridgeItems):
    """CustomerRepository (ports.py) over the BridgeTable; also MemberPresence."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        super().__init__(client, table_name)
        self._members_marked = False  # the MEMBERS marker is known written (this container)

    # ------------------------------------------------------------ any member (R9)

    def any_member(self) -> bool:
        if self._get(MEMBERS_PK, ANY_MEMBER_SK) is not None:
            return True
        # Links made before the marker existed: one paged scan for any member link, then
        # the marker. Only an admin changing the program's kind asks, and only then.
        if not self._any_member_link():
            return False
        self._mark_members_exist()
        return True

    def _mark_members_exist(self) -> None:
        """Before a link: a marker that outlives a failed link only locks the kind a bit early."""
        if self._members_marked:
            return
        try:
            self._client.put_item(
                TableName=self._table, Item=self._item({"pk": MEMBERS_PK, "sk": ANY_MEMBER_SK})
            )
        except (ClientError, BotoCoreError) as exc:
            self._fail(exc, "member marker write")
        self._members_marked = True

    def _any_member_link(self) -> bool:
        scan: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "begins_with(pk, :member) AND sk = :link",
            "ExpressionAttributeValues": self._item({":member": "MEMBER#", ":link": LINK}),
            "ProjectionExpression": "pk",
        }
        while True:
            try:
                answer = self._client.scan(**scan)
            except (ClientError, BotoCoreError) as exc:
                self._fail(exc, "member link scan")
            if answer.get("Items"):
                return True
            if not answer.get("LastEvaluatedKey"):
                return False
            scan["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    # ------------------------------------------------------------ customers

    def _record_item(self, record: CustomerRecord) -> dict[str, Any]:
        data = record.model_dump(mode="json")
        data["pk"] = customer_pk(record.customer_id)
        data["sk"] = PROFILE
        data["email_key"] = email_key(record.email)
        return self._item(data)

    def _index_put(self, record: CustomerRecord) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self._table,
                "Item": self._item(
                    {
                        "pk": email_key(record.email),
                        "sk": customer_pk(record.customer_id),
                        "customer_id": record.customer_id,
                        "indexed_at": utcnow().isoformat(),
                    }
                ),
            }
        }

    # ------------------------------------------------------------------ port

    def get(self, customer_id: str) -> CustomerRecord | None:
        item = self._get(customer_pk(customer_id), PROFILE)
        return CustomerRecord.model_validate(item) if item else None

    def create(self, record: CustomerRecord) -> bool:
        """The profile item and its email index entry, in one transaction."""
        items: list[Any] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": self._record_item(record),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            self._index_put(record),
        ]
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if error_code(exc) == "TransactionCanceledException":
                if _failed_conditions(exc):
                    return False
                raise Retryable("customer store temporarily unavailable") from exc
            self._fail(exc, "customer store write")
        except BotoCoreError as exc:
            self._fail(exc, "customer store write")
        return True

    def save(self, record: CustomerRecord, *, expected_version: int) -> CustomerRecord:
        """Optimistic update. The usual save (same email) is one conditional put; when the
        email changed, the stored item comes back with the failed condition and the save is
        redone as one transaction that also moves the email index entry."""
        saved = record.model_copy(update={"version": expected_version + 1, "updated_at": utcnow()})
        try:
            self._client.put_item(
                TableName=self._table,
                Item=self._record_item(saved),
                ConditionExpression="attribute_exists(pk) AND #v = :expected AND #ek = :ek",
                ExpressionAttributeNames={"#v": "version", "#ek": "email_key"},
                ExpressionAttributeValues=self._item(
                    {":expected": expected_version, ":ek": email_key(saved.email)}
                ),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                self._fail(exc, "customer store write")
            stored = self._from_item(exc.response.get("Item") or {})  # type: ignore[arg-type]
            if not stored or stored.get("version") != expected_version:
                raise _version_conflict() from exc
            self._save_with_new_email(saved, expected_version, stored)
        except BotoCoreError as exc:
            self._fail(exc, "customer store write")
        return saved

    def _save_with_new_email(
        self, saved: CustomerRecord, expected_version: int, stored: dict[str, Any]
    ) -> None:
        old_key = str(stored.get("email_key") or email_key(str(stored.get("email") or "")))
        items: list[Any] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": self._record_item(saved),
                    "ConditionExpression": "attribute_exists(pk) AND #v = :expected",
                    "ExpressionAttributeNames": {"#v": "version"},
                    "ExpressionAttributeValues": self._item({":expected": expected_version}),
                }
            },
            self._index_put(saved),
        ]
        if old_key != email_key(saved.email):
            items.append(
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": self._item({"pk": old_key, "sk": customer_pk(saved.customer_id)}),
                    }
                }
            )
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if error_code(exc) == "TransactionCanceledException":
                if _failed_conditions(exc):
                    raise _version_conflict() from exc
                raise Retryable("customer store temporarily unavailable") from exc
            self._fail(exc, "customer store write")
        except BotoCoreError as exc:
            self._fail(exc, "customer store write")

    def customers_with_email(self, email: str) -> list[str]:
        """The web customers whose current email is ``email`` (trimmed, case-insensitive)."""
        if not normalize_email(email):
            return []
        try:
            answer = self._client.query(
                TableName=self._table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues=self._item({":pk": email_key(email)}),
                ConsistentRead=True,
                Limit=_MAX_SHARED_EMAIL,
            )
        except (ClientError, BotoCoreError) as exc:
            self._fail(exc, "customer email index read")
        found = [self._from_item(item) for item in answer.get("Items", [])]
        return [str(item["customer_id"]) for item in found if item.get("customer_id")]

    def link_member(self, customer_id: str, member_id: str, card_number: str) -> None:
        self._link(self._link_items(customer_id, member_id, card_number))

    def link_and_save(
        self,
        member_id: str,
        card_number: str,
        record: CustomerRecord,
        *,
        expected_version: int,
        also: Sequence[Any] = (),
    ) -> CustomerRecord:
        """``link_member`` and ``save`` of the linked record (its email unchanged) in one
        transaction (A5 claims and the joined record together). A claim held by another web
        account is Conflict ``already_linked``; a record changed since ``expected_version``
        (or its email) is Conflict ``version_conflict``, nothing written either way.
        ``also``: items the join may go without (the platform's sync state of the account
        just made, services/membership.Linker), written with it; a cancellation on one of
        them writes the join without them."""
        saved = record.model_copy(update={"version": expected_version + 1, "updated_at": utcnow()})
        put = {
            "Put": {
                "TableName": self._table,
                "Item": self._record_item(saved),
                "ConditionExpression": "attribute_exists(pk) AND #v = :expected AND #ek = :ek",
                "ExpressionAttributeNames": {"#v": "version", "#ek": "email_key"},
                "ExpressionAttributeValues": self._item(
                    {":expected": expected_version, ":ek": email_key(saved.email)}
                ),
            }
        }
        items = [*self._link_items(record.customer_id, member_id, card_number), put]
        if also and self._link([*items, *also], optional=len(items)):
            return saved
        self._link(items)
        return saved

    def _link_items(self, customer_id: str, member_id: str, card_number: str) -> list[Any]:
        now = utcnow().isoformat()

        def claim(pk: str, owner_attr: str, owner: str, extra: dict[str, Any]) -> dict[str, Any]:
            return {
                "Put": {
                    "TableName": self._table,
                    "Item": self._item({"pk": pk, "sk": LINK, owner_attr: owner, "linked_at": now, **extra}),
                    "ConditionExpression": "attribute_not_exists(pk) OR #o = :o",
                    "ExpressionAttributeNames": {"#o": owner_attr},
                    "ExpressionAttributeValues": self._item({":o": owner}),
                }
            }

        return [
            claim(member_pk(member_id), "customer_id", customer_id, {"card_number": card_number}),
            claim(card_pk(card_number), "customer_id", customer_id, {"member_id": member_id}),
            claim(customer_pk(customer_id), "member_id", member_id, {"card_number": card_number}),
        ]

    def _link(self, items: list[Any], *, optional: int | None = None) -> bool:
        """The A5 claims (the first three items), with the record's save when given. Items
        from index ``optional`` on may be left out: False when a cancellation named only
        them (nothing was written), True when all were written."""
        self._mark_members_exist()
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if error_code(exc) == "TransactionCanceledException":
                failed = _failed_conditions(exc)
                required = len(items) if optional is None else optional
                if failed and min(failed) >= required:
                    return False  # only items it may go without
                if failed & set(range(3, required)):
                    raise _version_conflict() from exc
                if failed:
                    raise Conflict(
                        "This loyalty account is already linked to another web account.",
                        code="already_linked",
                    ) from exc
                raise Retryable("customer store temporarily unavailable") from exc
            self._fail(exc, "customer link")
        except BotoCoreError as exc:
            self._fail(exc, "customer link")
        return True

    def relink_member(
        self,
        customer_id: str,
        *,
        from_member_id: str,
        from_card: str,
        to_member_id: str,
        to_card: str,
    ) -> None:
        """A8: move the customer's link from one loyalty account to another (after a merge),
        or A10: to the same account's new card (after a replace), in one transaction: the old
        claims are released (only if this customer holds them), the new ones taken (only if
        free or already this customer's), and the customer's own link re-pointed (only if it
        still names the old account). Repeating it is a no-op."""
        items = self._relink_items(
            customer_id,
            from_member_id=from_member_id,
            from_card=from_card,
            to_member_id=to_member_id,
            to_card=to_card,
        )
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                self._fail(exc, "customer relink")
            if not _failed_conditions(exc):
                raise Retryable("customer store temporarily unavailable") from exc
            if (
                self._linked_to(customer_id) == to_member_id
                and self.linked_customer(member_id=to_member_id) == customer_id
                and self.linked_customer(card_number=to_card) == customer_id
            ):
                return  # done already (a repeated request)
            raise Conflict(
                "This loyalty account is already linked to another web account.", code="already_linked"
            ) from exc
        except BotoCoreError as exc:
            self._fail(exc, "customer relink")

    def _relink_items(
        self, customer_id: str, *, from_member_id: str, from_card: str, to_member_id: str, to_card: str
    ) -> list[Any]:
        """The one transaction of ``relink_member``: release, take, re-point (conditions there)."""
        now = utcnow().isoformat()
        mine = {"#o": "customer_id"}
        owner = self._item({":c": customer_id})

        def release(pk: str) -> dict[str, Any]:
            return {
                "Delete": {
                    "TableName": self._table,
                    "Key": self._item({"pk": pk, "sk": LINK}),
                    "ConditionExpression": "attribute_not_exists(pk) OR #o = :c",
                    "ExpressionAttributeNames": mine,
                    "ExpressionAttributeValues": owner,
                }
            }

        def take(pk: str, extra: dict[str, Any]) -> dict[str, Any]:
            return {
                "Put": {
                    "TableName": self._table,
                    "Item": self._item(
                        {"pk": pk, "sk": LINK, "customer_id": customer_id, "linked_at": now, **extra}
                    ),
                    "ConditionExpression": "attribute_not_exists(pk) OR #o = :c",
                    "ExpressionAttributeNames": mine,
                    "ExpressionAttributeValues": owner,
                }
            }

        items: list[Any] = [
            release(member_pk(from_member_id)),
            take(member_pk(to_member_id), {"card_number": to_card}),
            take(card_pk(to_card), {"member_id": to_member_id}),
            {
                "Put": {
                    "TableName": self._table,
                    "Item": self._item(
                        {
                            "pk": customer_pk(customer_id),
                            "sk": LINK,
                            "member_id": to_member_id,
                            "card_number": to_card,
                            "linked_at": now,
                        }
                    ),
                    "ConditionExpression": "attribute_not_exists(pk) OR #m = :old",
                    "ExpressionAttributeNames": {"#m": "member_id"},
                    "ExpressionAttributeValues": self._item({":old": from_member_id}),
                }
            },
        ]
        if from_card != to_card:
            items.insert(1, release(card_pk(from_card)))
        if from_member_id == to_member_id:
            items.pop(0)  # A10, a card replaced: the member's claim stays (retaken with the new card)
        return items

    def _linked_to(self, customer_id: str) -> str | None:
        item = self._get(customer_pk(customer_id), LINK)
        return str(item["member_id"]) if item and item.get("member_id") else None

    # ------------------------------------------------------------------ extras (not in the port)

    def linked_customer(self, *, member_id: str | None = None, card_number: str | None = None) -> str | None:
        """Which web customer holds this member or card, if any."""
        if member_id is not None:
            item = self._get(member_pk(member_id), LINK)
        elif card_number is not None:
            item = self._get(card_pk(card_number), LINK)
        else:
            return None
        return str(item["customer_id"]) if item else None


class DynamoBalanceSnapshots(BridgeItems):
    """ports.BalanceSnapshots: ``MEMBER#{id}`` / ``BALANCE``; a newer snapshot never loses
    to an older one (``as_of`` is compared on write)."""

    def get(self, member_id: str) -> Balance | None:
        item = self._get(member_pk(member_id), BALANCE)
        if not item:
            return None
        return Balance.model_validate(item.get("balance", {}))

    def put(self, balance: Balance) -> None:
        as_of = utcnow().isoformat()
        try:
            self._client.put_item(
                TableName=self._table,
                Item=self._item(
                    {
                        "pk": member_pk(balance.member_id),
                        "sk": BALANCE,
                        "balance": balance.model_dump(mode="json"),
                        "as_of": as_of,
                    }
                ),
                ConditionExpression="attribute_not_exists(as_of) OR as_of <= :now",
                ExpressionAttributeValues=self._item({":now": as_of}),
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return  # a newer snapshot is already there
            self._fail(exc, "balance snapshot write")
        except BotoCoreError as exc:
            self._fail(exc, "balance snapshot write")

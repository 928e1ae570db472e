"""LedgerTable I/O for the built-in ledger: the item codec, keys, reads, the one
transaction per change and its retry on a lost race.

Every other ledger module builds on ``LedgerTable``; none of them calls DynamoDB itself.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn, cast

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from loyalty_bridge import answers
from loyalty_bridge.adapters.aws_errors import RETRYABLE_CODES, error_code
from loyalty_bridge.adapters.ledger.stats import counter_updates
from loyalty_bridge.errors import BridgeError, PlatformError, PlatformUnavailable, RecordExists
from loyalty_bridge.program.account import Entry
from loyalty_bridge.program.earn_rules import FixedProgram, ProgramRules, load_rules
from loyalty_bridge.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

    from loyalty_bridge.ports import ProgramSource

Clock = Callable[[], datetime]
Item = dict[str, Any]  # a plain-Python DynamoDB item (numbers as Decimal)
Labelled = list[tuple[str, "TransactWriteItemTypeDef"]]  # transaction items, named for cancellations

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()
CLOSED_HOLD_DAYS = 30  # closed holds are kept this long (TTL) for replays and audits
EXPIRY_INDEX = "EXPIRY#DUE"
OPEN_HOLDS_INDEX = "HOLDS#OPEN"


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def to_av(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _SERIALIZER.serialize(v) for k, v in item.items() if v is not None}


def from_av(item: Mapping[str, Any]) -> Item:
    return {k: _DESERIALIZER.deserialize(v) for k, v in item.items()}


def key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def member_pk(member_id: str) -> str:
    return f"MEMBER#{member_id}"


class Retry(Exception):
    """A concurrent write won the race: read again and recompute."""


class Cancelled(Exception):
    def __init__(self, failed: set[str]) -> None:
        super().__init__(", ".join(sorted(failed)))
        self.failed = failed


class Recording[T]:
    """The bridge's record of a change (its items, from the change's answer), written in
    the change's own transaction; ``written`` once it was."""

    def __init__(self, items: Callable[[T], Sequence[TransactWriteItemTypeDef]]) -> None:
        self.items = items
        self.written = False


class LedgerTable:
    """The table, the program rules and the clock every part of the ledger shares."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        settings: Settings,
        rules: ProgramRules | ProgramSource | None = None,
        clock: Clock = utcnow,
        *,
        max_attempts: int = 40,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._db = client
        self._table = table_name
        self._settings = settings
        # R9: the program in force, read per operation through a cached ProgramSource (the
        # Parameters one re-reads DynamoDB at most every max_age, never once per request).
        fixed = load_rules(settings) if rules is None else rules
        self._program: ProgramSource = FixedProgram(fixed) if isinstance(fixed, ProgramRules) else fixed
        self._clock = clock
        self._max_attempts = max_attempts
        self._sleep = sleep
        self._rng = random.SystemRandom()

    @property
    def rules(self) -> ProgramRules:
        return self._program.current()[1]

    @property
    def _rules(self) -> ProgramRules:
        return self._program.current()[1]

    def _priced(self) -> tuple[int, ProgramRules]:
        """(version, rules) of the program in force: one read per priced operation, so the
        entry it writes records the version that priced it."""
        return self._program.current()

    # ------------------------------------------------------------------ reads

    def _fail(self, exc: ClientError | BotoCoreError, what: str) -> NoReturn:
        if isinstance(exc, BotoCoreError):
            raise PlatformUnavailable(f"ledger {what}: DynamoDB unreachable") from exc
        code = error_code(exc)
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in RETRYABLE_CODES or status >= 500:
            raise PlatformUnavailable(f"ledger {what}: DynamoDB busy", aws_code=code) from exc
        raise PlatformError(f"ledger {what} failed", code="ledger_error", aws_code=code) from exc

    def _get(self, pk: str, sk: str) -> Item | None:
        try:
            answer = self._db.get_item(TableName=self._table, Key=key(pk, sk), ConsistentRead=True)
        except (ClientError, BotoCoreError) as exc:
            self._fail(exc, "read")
        raw = answer.get("Item")
        return from_av(raw) if raw else None

    def _get_many(self, *keys: tuple[str, str]) -> dict[tuple[str, str], Item]:
        """Several items in one consistent BatchGetItem (unprocessed keys asked again),
        by (pk, sk); missing items are absent."""
        found: dict[tuple[str, str], Item] = {}
        wanted: list[dict[str, Any]] = [key(pk, sk) for pk, sk in dict.fromkeys(keys)]
        while wanted:
            try:
                answer = self._db.batch_get_item(
                    RequestItems={self._table: {"Keys": wanted, "ConsistentRead": True}}
                )
            except (ClientError, BotoCoreError) as exc:
                self._fail(exc, "read")
            responses: dict[str, Any] = dict(answer.get("Responses") or {})
            for raw in responses.get(self._table, []):
                item = from_av(raw)
                found[(str(item["pk"]), str(item["sk"]))] = item
            unprocessed: dict[str, Any] = dict(answer.get("UnprocessedKeys") or {})
            wanted = list((unprocessed.get(self._table) or {}).get("Keys", []))
            if wanted:
                self._sleep(self._rng.uniform(0, 0.05))
        return found

    def _query(self, **kwargs: Any) -> Iterator[Item]:
        start: dict[str, Any] | None = None
        while True:
            page_args = dict(kwargs, TableName=self._table)
            if start:
                page_args["ExclusiveStartKey"] = start
            try:
                page = self._db.query(**page_args)
            except (ClientError, BotoCoreError) as exc:
                self._fail(exc, "query")
            for raw in page.get("Items", []):
                yield from_av(raw)
            start = page.get("LastEvaluatedKey")
            if not start:
                return

    def _query_partition(self, pk: str, **kwargs: Any) -> Iterator[Item]:
        """Every item of one partition, read consistently."""
        return self._query(
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
            ConsistentRead=True,
            **kwargs,
        )

    def _query_index(self, gsi1pk: str, *, until: str | None = None) -> Iterator[Item]:
        """gsi1 items under ``gsi1pk`` (with ``until``: those sorted up to it)."""
        values: dict[str, Any] = {":pk": {"S": gsi1pk}}
        condition = "gsi1pk = :pk"
        if until is not None:
            condition += " AND gsi1sk <= :until"
            values[":until"] = {"S": until}
        return self._query(
            IndexName="gsi1", KeyConditionExpression=condition, ExpressionAttributeValues=values
        )

    # ------------------------------------------------------------------ writes

    def _transact(
        self, labelled: Sequence[tuple[str, TransactWriteItemTypeDef]], *, counted: bool = True
    ) -> None:
        """Write all or nothing. Cancelled names the items whose condition failed;
        Retry means a concurrent transaction touched the same items. ``counted=False``: the
        caller adds the day's counters itself (the member import, once a chunk)."""
        # The day's counters (R6) ride along: one ADD update computed from what is written.
        if counted:
            labelled = [*labelled, *counter_updates(self._table, [item for _, item in labelled])]
        try:
            self._db.transact_write_items(TransactItems=[item for _, item in labelled])
        except ClientError as exc:
            if error_code(exc) == "TransactionCanceledException":
                reasons = exc.response.get("CancellationReasons", [])
                failed = {
                    labelled[i][0]
                    for i, reason in enumerate(reasons)
                    if reason.get("Code") == "ConditionalCheckFailed" and i < len(labelled)
                }
                codes = {reason.get("Code") for reason in reasons}
                if failed:
                    raise Cancelled(failed) from exc
                if codes & {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}:
                    raise Retry from exc
                raise PlatformUnavailable(
                    "ledger write cancelled", aws_code=",".join(sorted(map(str, codes)))
                ) from exc
            if error_code(exc) == "TransactionConflictException":
                raise Retry from exc
            self._fail(exc, "write")
        except BotoCoreError as exc:
            self._fail(exc, "write")

    def _transact_optional(self, labelled: Labelled, optional: Labelled) -> bool:
        """``labelled`` with ``optional``: items the change may go without (the request's
        answer, a profile change's sync state), each under a label of its own. A
        cancellation that names one of them writes the change without them. Whether they
        were written."""
        try:
            self._transact([*labelled, *optional])
        except Cancelled as exc:
            if not exc.failed & {label for label, _ in optional}:
                raise
            self._transact(labelled)
            return False
        return bool(optional)

    def _transact_or_retry(self, labelled: Sequence[tuple[str, TransactWriteItemTypeDef]]) -> None:
        """A write computed from a read: any failed condition means something moved under
        it, so start again from fresh reads."""
        try:
            self._transact(labelled)
        except Cancelled as exc:
            raise Retry from exc

    def _commit[T](self, items: Labelled, result: T, recording: Recording[T] | None, what: str) -> T:
        """The change's one transaction, with the bridge's record of it when asked
        (errors.RecordExists: that record is there already, so nothing was written)."""
        items = list(items)
        answer: Labelled = []
        # The record's items may end with the request's answer (answers.py), which the
        # change goes without when its claim is gone: it is completed after the route then.
        for item in recording.items(result) if recording is not None else ():
            if isinstance(item, answers.AnswerItem):
                answer.append(("answer", cast("TransactWriteItemTypeDef", item)))
            else:
                items.append(("record", item))
        try:
            answered = self._transact_optional(items, answer)
        except Cancelled as exc:
            if "record" in exc.failed:
                raise RecordExists(f"{what} is recorded already") from exc
            raise Retry from exc  # a twin delivery or a concurrent change: re-read
        if recording is not None:
            recording.written = True
        if answer:
            answers.committed() if answered else answers.declined()
        return result

    def _put(self, item: Mapping[str, Any], *, condition: str | None = None) -> TransactWriteItemTypeDef:
        put: dict[str, Any] = {"TableName": self._table, "Item": to_av(item)}
        if condition:
            put["ConditionExpression"] = condition
        return {"Put": put}  # type: ignore[typeddict-item]

    def _put_new(self, item: Mapping[str, Any]) -> TransactWriteItemTypeDef:
        return self._put(item, condition="attribute_not_exists(pk)")

    def _update(
        self,
        pk: str,
        sk: str,
        expression: str,
        values: Mapping[str, Any],
        *,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
    ) -> TransactWriteItemTypeDef:
        update: dict[str, Any] = {
            "TableName": self._table,
            "Key": key(pk, sk),
            "UpdateExpression": expression,
        }
        if values:
            update["ExpressionAttributeValues"] = to_av(values)
        if names:
            update["ExpressionAttributeNames"] = dict(names)
        if condition:
            update["ConditionExpression"] = condition
        return {"Update": update}  # type: ignore[typeddict-item]

    def _delete(self, pk: str, sk: str, *, condition: str | None = None) -> TransactWriteItemTypeDef:
        delete: dict[str, Any] = {"TableName": self._table, "Key": key(pk, sk)}
        if condition:
            delete["ConditionExpression"] = condition
        return {"Delete": delete}  # type: ignore[typeddict-item]

    def _request(self, request_pk: str, member_id: str, **extra: Any) -> TransactWriteItemTypeDef:
        """The first answer of a keyed request (replays read it)."""
        return self._put_new({"pk": request_pk, "sk": "REQUEST", "member_id": member_id, **extra})

    def _entry(
        self, entry: Entry, now: datetime, *, program_version: int | None = None
    ) -> TransactWriteItemTypeDef:
        """A ledger entry, written once: a replay of its change is a cancelled no-op.
        ``program_version``: the program version that priced it (R9; none for settlements)."""
        return self._put_new(
            {
                "pk": f"ENTRY#{entry.entry_id}",
                "sk": "ENTRY",
                "entry_id": entry.entry_id,
                "member_id": entry.member_id,
                "kind": entry.kind,
                "delta": entry.delta,
                "pending_delta": entry.pending_delta,
                "at": iso(now),
                "result": entry.result or None,
                "program_version": program_version,
                "exchange_rate": entry.exchange_rate,
                "gsi1pk": f"ENTRIES#{entry.member_id}",
                "gsi1sk": f"{iso(now)}#{entry.entry_id}",
                # What the history (R8) and the day's counters (R6) read: None is left out.
                "activity": entry.activity.value if entry.activity else None,
                "points_in": entry.points_in,
                "points_out": entry.points_out,
                "balance_after": entry.balance_after,
                "order_id": entry.order_id,
                "refund_id": entry.refund_id,
                "redemption_id": entry.redemption_id,
                "reward_id": entry.reward_id,
                "store_id": entry.store_id,
                "staff_id": entry.staff_id,
                "reason": entry.reason,
            }
        )

    def _close_hold(
        self, member_id: str, redemption_id: str, state: str, now: datetime
    ) -> TransactWriteItemTypeDef:
        expires = int((now + timedelta(days=CLOSED_HOLD_DAYS)).timestamp())
        return self._update(
            member_pk(member_id),
            f"HOLD#{redemption_id}",
            "SET #state = :new, closed_at = :now, #ttl = :ttl REMOVE gsi1pk, gsi1sk",
            {":new": state, ":open": "open", ":now": iso(now), ":ttl": expires},
            condition="#state = :open",
            names={"#state": "state", "#ttl": "ttl"},
        )

    def _once[T](self, pk: str, answer: Callable[[Item], T], compute: Callable[[], T], *, new: bool) -> T:
        """A change keyed by ``pk`` (its item put under ``attribute_not_exists``), retried on
        a lost race, answering what the first delivery answered when it is a replay.

        ``new``: the caller has no record of the change being asked before, so the first
        attempt reads nothing. A replay is still found: its transaction is cancelled on
        that item and the retry reads the stored answer; so does a first attempt the rules
        refuse (the account may have moved since the first delivery was answered)."""
        tries = 0

        def attempt() -> T:
            nonlocal tries
            tries += 1
            if tries > 1 or not new:
                first = self._get(pk, "ENTRY")
                if first is not None:
                    return answer(first)
            try:
                return compute()
            except BridgeError:
                first = self._get(pk, "ENTRY") if tries == 1 and new else None
                if first is not None:
                    return answer(first)
                raise

        return self._retrying(attempt)

    def _retrying[T](self, attempt: Callable[[], T]) -> T:
        for tries in range(self._max_attempts):
            try:
                return attempt()
            except Retry:
                self._back_off(tries)
        raise PlatformUnavailable("ledger busy: too many concurrent changes to one balance")

    def _back_off(self, tries: int) -> None:
        """Before trying a conflicting write again. Full jitter; small, since the competing
        write has already committed."""
        self._sleep(self._rng.uniform(0, min(0.25, 0.004 * 2 ** min(tries, 8))))

"""Daily statistics (R6) of the built-in ledger, kept as counters written with the entries.

Every ledger transaction that writes entries (or a new member's account) also carries ONE
``ADD`` update of that day's counter item, computed from the very items it writes
(``counter_updates``, called by ``LedgerTable._transact``): the counters of a day are the
sum of its entries (program/stats.py says what each entry adds), a replay (cancelled
transaction) counts nothing, and no write needs a call of its own. No scan, ever: a stats
read is one Query per shard over the date range.

    STATS#{shard}   DAY#{yyyy-mm-dd}   c:{counter}, store:{store_id}:{counter}  (numbers)

Program-wide counters and each store's live on the same item (one update per transaction,
whatever its store). The day is the UTC day of the write. Counters are spread over
``SHARDS`` items per day by the member the transaction is for, so that concurrent writes
of different members do not conflict on one item; a read sums the shards.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer

from loyalty_bridge.models.activity import StatsDay
from loyalty_bridge.program import stats as stat_rules

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

SHARDS = 8
_DESERIALIZER = TypeDeserializer()


def _plain(av: dict[str, Any], name: str) -> Any:
    value = av.get(name)
    return _DESERIALIZER.deserialize(value) if value is not None else None


def shard_of(member_id: str) -> int:
    return zlib.crc32(member_id.encode("utf-8")) % SHARDS


def program_attr(counter: str) -> str:
    return f"c:{counter}"


def store_attr(store_id: str, counter: str) -> str:
    return f"store:{store_id}:{counter}"


def _counts_of(put: dict[str, Any]) -> tuple[str, str, str | None, dict[str, int]] | None:
    """(member, day, store, counts) of one Put the transaction writes, when it counts."""
    item = put["Item"]
    pk = str(_plain(item, "pk") or "")
    if pk.startswith("ENTRY#"):
        counts = stat_rules.entry_counts(
            str(_plain(item, "kind")),
            int(_plain(item, "points_in") or 0),
            int(_plain(item, "points_out") or 0),
        )
        day = str(_plain(item, "at"))[:10]
        return str(_plain(item, "member_id")), day, _plain(item, "store_id"), counts
    if pk.startswith("MEMBER#") and _plain(item, "sk") == "PROFILE":  # a new member (puts only)
        if _plain(item, "imported_from"):
            return None  # seed 002: a member brought over is not a new member of the program
        created = str(_plain(item, "created_at") or "")[:10]
        return pk.removeprefix("MEMBER#"), created, None, {"new_members": 1} if created else {}
    return None


def counter_updates(
    table: str, items: Sequence[TransactWriteItemTypeDef]
) -> list[tuple[str, TransactWriteItemTypeDef]]:
    """The counter updates (at most one per day, normally one) for a transaction's items."""
    per_day: dict[str, dict[str, int]] = {}
    member: str | None = None
    for write in items:
        put = write.get("Put")
        found = _counts_of(dict(put)) if put else None
        if found is None or not found[3]:
            continue
        member_id, day, store_id, counts = found
        member = member or member_id
        names = per_day.setdefault(day, {})
        stat_rules.add_counts(names, {program_attr(k): v for k, v in counts.items()})
        if store_id:
            stat_rules.add_counts(names, {store_attr(str(store_id), k): v for k, v in counts.items()})
    updates: list[tuple[str, TransactWriteItemTypeDef]] = []
    for day, names in per_day.items():
        if not names:
            continue
        aliases = {f"#n{i}": name for i, name in enumerate(names)}
        values = {f":v{i}": {"N": str(value)} for i, value in enumerate(names.values())}
        expression = "ADD " + ", ".join(f"#n{i} :v{i}" for i in range(len(names)))
        update: dict[str, Any] = {
            "TableName": table,
            "Key": {"pk": {"S": f"STATS#{shard_of(member or '')}"}, "sk": {"S": f"DAY#{day}"}},
            "UpdateExpression": expression,
            "ExpressionAttributeNames": aliases,
            "ExpressionAttributeValues": values,
        }
        updates.append(("stats", {"Update": update}))  # type: ignore[typeddict-item]
    return updates


def read_queries(store_id: str | None, start: date, end: date) -> Iterator[tuple[int, dict[str, Any]]]:
    """The Query arguments of a stats read: one per shard."""
    names = {"#sk": "sk"} | {
        f"#c{i}": store_attr(store_id, c) if store_id else program_attr(c)
        for i, c in enumerate(stat_rules.COUNTERS)
    }
    for shard in range(SHARDS):
        yield (
            shard,
            {
                "KeyConditionExpression": "pk = :pk AND sk BETWEEN :from AND :to",
                "ExpressionAttributeValues": {
                    ":pk": {"S": f"STATS#{shard}"},
                    ":from": {"S": f"DAY#{start.isoformat()}"},
                    ":to": {"S": f"DAY#{end.isoformat()}"},
                },
                "ExpressionAttributeNames": names,
                "ProjectionExpression": ", ".join(names),
            },
        )


def day_counts(item: dict[str, Any], store_id: str | None) -> tuple[date, dict[str, int]]:
    """A counter item (plain values) read by ``read_queries``: its day and counters."""
    day = date.fromisoformat(str(item["sk"]).removeprefix("DAY#"))
    counts = {}
    for counter in stat_rules.COUNTERS:
        name = store_attr(store_id, counter) if store_id else program_attr(counter)
        if item.get(name):
            counts[counter] = int(item[name])
    return day, counts


def stats_days(found: dict[date, dict[str, int]]) -> list[StatsDay]:
    return [StatsDay(day=day, **found[day]) for day in sorted(found) if found[day]]

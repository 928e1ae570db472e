"""Fixes to moto for the local stack (``apply()``): DynamoDB's ``TransactWriteItems``,
``Query`` on a table's key, and updates a concurrent read sees whole (``_copy_on_write``);
SQS's ``ReceiveMessage`` on a FIFO queue, one at a time (``_fifo_receive_one_at_a_time``).

moto backs a transaction up by deep-copying every table it touches, once per item of the
transaction, and rolls back by putting those copies back:

- cost: each ledger write copied the whole ledger table three times, so every order got
  slower as the table grew (the 10,000-operation soak's ledger makes it quadratic);
- correctness: nothing stops another thread writing to that table between the copy and
  a rollback, and the rollback then erases that write. With several warm containers per
  function (``--containers``) that is a real race, not a theory.

Here a transaction backs up only the items it touches and restores only those, and every
DynamoDB write (single-item writes, batches and transactions) runs under one lock, so a
transaction is atomic to every other writer, as DynamoDB's are. moto's own code still
evaluates the conditions and applies the writes.

moto answers a Query on the table's own key by sorting every item of the table and keeping
the partition asked for; here it is handed that partition's items only (same answer), so a
query costs the partition's size, not the table's: the ledger is read a partition at a time.
"""

from __future__ import annotations

import copy
import inspect
import threading
from collections.abc import Callable
from typing import Any

_WRITES = ("put_item", "update_item", "delete_item", "batch_write_item")
_lock = threading.RLock()
_state = threading.local()  # .in_transaction: a table's deepcopy is itself (no backup);
# .partition: (table, hash key) whose items all_items() returns (a Query on the table's key)
_applied = False


def _table_deepcopy(self: Any, memo: dict[int, Any]) -> Any:
    if getattr(_state, "in_transaction", False):
        return self  # moto's whole-table backup: the touched items are backed up instead
    cls = self.__class__
    clone = cls.__new__(cls)
    memo[id(self)] = clone
    for name, value in self.__dict__.items():
        setattr(clone, name, copy.deepcopy(value, memo))
    return clone


def _keys(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, Any, Any]]:
    """(table, hash DynamoType, range DynamoType or None) of every item a transaction names."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    keys = []
    for entry in transact_items:
        if len(entry) != 1:
            continue  # moto refuses it before writing anything
        _, op = next(iter(entry.items()))
        table = backend.tables.get(op.get("TableName"))
        if table is None:
            continue
        key = op.get("Item") if "Item" in op else op.get("Key")
        if not isinstance(key, dict) or table.hash_key_attr not in key:
            continue
        range_attr = table.range_key_attr
        if range_attr is not None and range_attr not in key:
            continue
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = DynamoType(key[range_attr]) if range_attr is not None else None
        keys.append((table, hash_value, range_value))
    return keys


def _stored(table: Any, hash_value: Any, range_value: Any) -> Any:
    if range_value is None:
        return table.items.get(hash_value)
    return table.items.get(hash_value, {}).get(range_value)


def _restore(table: Any, hash_value: Any, range_value: Any, item: Any) -> None:
    if range_value is None:
        if item is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = item
        return
    rows = table.items[hash_value]
    if item is None:
        rows.pop(range_value, None)
        if not rows:
            table.items.pop(hash_value, None)
    else:
        rows[range_value] = item


def _transact_write_items(original: Callable[..., Any]) -> Callable[..., Any]:
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> Any:
        with _lock:
            tables = dict(self.tables)
            backup = [(t, h, r, copy.deepcopy(_stored(t, h, r))) for t, h, r in _keys(self, transact_items)]
            _state.in_transaction = True
            try:
                return original(self, transact_items)
            except Exception:
                self.tables.update(tables)
                for table, hash_value, range_value, item in reversed(backup):
                    _restore(table, hash_value, range_value, item)
                raise
            finally:
                _state.in_transaction = False

    return transact_write_items


def _locked(original: Callable[..., Any]) -> Callable[..., Any]:
    def write(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _lock:
            return original(self, *args, **kwargs)

    return write


def _copy_on_write(original: Callable[..., Any]) -> Callable[..., Any]:
    """moto applies an UpdateExpression to the stored item in place, one action after
    another, while other threads of its server read and serialise that same item: a
    GetItem or Query could see some of an update's attributes and not the others (a
    record's new version beside its old name). Here the update is applied to a copy of
    the item's attributes, which then replace the item's in one assignment: a reader sees
    the item before or after, as DynamoDB guarantees; a failed update leaves it as it was."""

    def execute(self: Any, node: Any = None) -> Any:
        if node is not None:  # moto's recursion into the expression's parts
            return original(self, node)
        live = self.item
        shadow = copy.copy(live)
        shadow.attrs = copy.deepcopy(live.attrs)
        self.item = shadow
        try:
            result = original(self)
        finally:
            self.item = live
        live.attrs = shadow.attrs
        return result

    return execute


def _partition_items(original: Callable[..., Any]) -> Callable[..., Any]:
    def all_items(self: Any) -> list[Any]:
        partition = getattr(_state, "partition", None)
        if partition is None or partition[0] is not self:
            return list(original(self))
        rows = self.items.get(partition[1])
        if rows is None:
            return []
        return sorted(rows.values(), key=lambda item: item.range_key)

    return all_items


def _query_by_partition(original: Callable[..., Any]) -> Callable[..., Any]:
    signature = inspect.signature(original)

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = signature.bind_partial(self, hash_key, *args, **kwargs).arguments.get("index_name")
        if index_name or hash_key is None or not self.range_key_attr:
            return original(self, hash_key, *args, **kwargs)
        _state.partition = (self, hash_key)
        try:
            return original(self, hash_key, *args, **kwargs)
        finally:
            _state.partition = None

    return query


def _fifo_receive_one_at_a_time(original: Callable[..., Any]) -> Callable[..., Any]:
    """moto's ReceiveMessage copies a FIFO queue's in-flight groups when it starts and marks
    what it takes as it goes, without a lock: two receives in concurrent server threads
    could each take a message of one group (the second before the first's batch is done),
    which SQS never does. Receives on one FIFO queue run one at a time here (the pollers
    short-poll FIFO queues, so none holds the lock through a long poll)."""

    def receive_message(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        queue = self.get_queue(queue_name)
        if not queue.fifo_queue:
            return original(self, queue_name, *args, **kwargs)
        lock = queue.__dict__.setdefault("_bridge_receive_lock", threading.Lock())
        with lock:
            return original(self, queue_name, *args, **kwargs)

    return receive_message


def apply() -> None:
    """Patch moto's DynamoDB and SQS backends in this process (idempotent)."""
    global _applied
    if _applied:
        return
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table
    from moto.dynamodb.parsing.executors import UpdateExpressionExecutor
    from moto.sqs.models import SQSBackend

    Table.__deepcopy__ = _table_deepcopy  # type: ignore[attr-defined]
    UpdateExpressionExecutor.execute = _copy_on_write(UpdateExpressionExecutor.execute)  # type: ignore[method-assign]
    Table.all_items = _partition_items(Table.all_items)  # type: ignore[method-assign]
    Table.query = _query_by_partition(Table.query)  # type: ignore[method-assign]
    DynamoDBBackend.transact_write_items = _transact_write_items(  # type: ignore[method-assign]
        DynamoDBBackend.transact_write_items
    )
    for name in _WRITES:
        if hasattr(DynamoDBBackend, name):
            setattr(DynamoDBBackend, name, _locked(getattr(DynamoDBBackend, name)))
    SQSBackend.receive_message = _fifo_receive_one_at_a_time(SQSBackend.receive_message)  # type: ignore[method-assign]
    _applied = True

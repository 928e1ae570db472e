"""The request's answer, written in the transaction of the change it answers (issue 19).

A write under an ``Idempotency-Key`` claims its key before the route runs and, once the
route has answered, completes the key's record with that answer (http_api.py). When the
route's change is one transaction of the built-in ledger, the completion can ride in that
transaction: the change and the answer a repeat will get are then written together, and
the completion costs no call of its own.

The HTTP side (http_api.py) says, for the request being served, how an answer becomes
the record's completion; a service asks ``items(answer)`` for the items of the answer it
is about to give, and adds them to the change's transaction (services/new_changes.py). A
service never knows HTTP: with no request being answered (a queue worker, a test calling
the service), ``items`` is empty and the change is written as before.

The completion is conditional on the record still being this request's, in progress; a
transaction cancelled on it is retried without it (``declined``), and the record is then
completed after the route, as without this module.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol


class AnswerItem(dict[str, Any]):
    """A transaction item that completes the request's idempotency record (a dict, as
    boto3 takes it; its type tells the ledger which item a cancellation named)."""


class Answering(Protocol):
    def items(self, answer: Any) -> Sequence[AnswerItem]:
        """The items completing the request's record with ``answer`` (a response model)."""
        ...

    def committed(self) -> None:
        """The transaction holding the items last given committed."""
        ...

    def declined(self) -> None:
        """A transaction was cancelled on the items: complete the record after the route."""
        ...

    def completed_with(self, response_data: str) -> bool:
        """Whether a committed transaction completed the record with this stored answer."""
        ...


_current: ContextVar[Answering | None] = ContextVar("loyalty_bridge_answering", default=None)


@contextmanager
def answering(answers: Answering) -> Iterator[None]:
    """``answers`` answers for the request served inside this block (this thread, and the
    threads its context is copied into: services/deadline.py)."""
    token = _current.set(answers)
    try:
        yield
    finally:
        _current.reset(token)


def current() -> Answering | None:
    return _current.get()


def items(answer: Any) -> list[AnswerItem]:
    """The items that complete the request's idempotency record with ``answer``; none when
    no request is being answered here, or it cannot be completed in a transaction."""
    answers = _current.get()
    return [] if answers is None else list(answers.items(answer))


def committed() -> None:
    """Called by the ledger after a transaction holding the answer's items committed."""
    answers = _current.get()
    if answers is not None:
        answers.committed()


def declined() -> None:
    answers = _current.get()
    if answers is not None:
        answers.declined()

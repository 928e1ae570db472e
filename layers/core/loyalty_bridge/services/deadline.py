"""The in-request deadline: a platform call that has not answered in time answers
PlatformUnavailable to the request (C4: 202 and the queue settles it), while the call
carries on in the background."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout

from loyalty_bridge import errors

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="platform-call")
        return _executor


def within[T](seconds: float | None, call: Callable[[], T]) -> T:
    """Run ``call``; PlatformUnavailable if it has not answered after ``seconds``.

    The call itself carries on in the background and may still succeed: harmless, since
    every platform write is keyed by its business id and the queue settles it anyway."""
    if seconds is None:
        return call()
    # The call sees this request's context (answers.py: the answer it may write with it).
    future = _pool().submit(contextvars.copy_context().run, call)
    try:
        return future.result(timeout=seconds)
    except FuturesTimeout:
        raise errors.PlatformUnavailable("the platform did not answer in time") from None

"""How an API handler takes its services: one holder per handler module, the same everywhere.

STYLE.md: optional dependencies injected into handlers, in-memory fakes over mocks. A handler
declares what its routes call as ``Wired`` attributes of a ``HandlerServices`` subclass, each
naming the wiring function that builds it, keeps one instance and reads from it::

    class Services(HandlerServices):
        admin_errors = Wired(wiring.admin_errors)

    services = Services()
    ...
    services.admin_errors.list(...)

A unit test hands in fake-backed services by name (``module.Services(admin_errors=...)``, set
on the module with monkeypatch); whatever it leaves out comes from wiring, built on first use
and cached there. Nothing is built at import time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast, overload


class Wired[T]:
    """One service a handler's routes call: the one a test handed in, else ``build()``."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._name = ""

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self._name = name

    @overload
    def __get__(self, holder: None, owner: type[Any]) -> Wired[T]: ...

    @overload
    def __get__(self, holder: HandlerServices, owner: type[Any]) -> T: ...

    def __get__(self, holder: HandlerServices | None, owner: type[Any]) -> Wired[T] | T:
        if holder is None:
            return self
        given = holder._given.get(self._name)
        return cast("T", given) if given is not None else self._build()


class HandlerServices:
    """Base of each API handler's ``Services``: given services by name, the rest wired."""

    def __init__(self, **given: object) -> None:
        unknown = sorted(name for name in given if not isinstance(getattr(type(self), name, None), Wired))
        if unknown:
            raise TypeError(f"{type(self).__name__} takes no service named {', '.join(unknown)}")
        self._given = {name: service for name, service in given.items() if service is not None}

"""Composition root: lazily built AWS/HTTP clients -> adapters -> services, cached while warm.

Nothing here runs at import time. Handlers call e.g. ``wiring.membership_service()``;
tests swap dependencies by calling ``reset()`` after changing the environment, or by
constructing services directly with fakes.

Convention: one ``@cached`` function per adapter or service; add yours in its section.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from loyalty_bridge.settings import Settings, get_settings

if TYPE_CHECKING:
    from botocore.client import BaseClient

_CACHED: list[Any] = []


def cached[F: Callable[..., Any]](fn: F) -> F:
    """functools.cache, remembered so reset() can clear every cached object at once."""
    wrapped = cache(fn)
    _CACHED.append(wrapped)
    return wrapped  # type: ignore[return-value]


def reset() -> None:
    """Forget every client, adapter and service (tests; settings changes)."""
    get_settings.cache_clear()
    for fn in _CACHED:
        fn.cache_clear()


def settings() -> Settings:
    return get_settings()


# ---------------------------------------------------------------- AWS clients


@cached
def _boto_session() -> Any:
    import boto3  # heavy: keep off the import path of functions that never call AWS

    return boto3.session.Session(region_name=settings().region)


@cached
def aws_client(service: str) -> BaseClient:
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=2,
        read_timeout=5,
        tcp_keepalive=True,
    )
    client: BaseClient = _boto_session().client(
        service, endpoint_url=settings().aws_endpoint_url, config=config
    )
    return client

"""REST platform fixtures: the fake platform on loopback (InMemoryPlatform behind it) and
RestPlatform adapters pointed at it, with recorded sleeps, jitter and metrics (so tests
assert the retry policy without ever waiting for it)."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from loyalty_bridge.adapters.rest_platform import RestPlatform
from loyalty_bridge.adapters.rest_transport import build_http_client
from loyalty_bridge.settings import Settings
from tests.fake_rest_platform import DEFAULT_TOKEN, FakePlatformServer
from tests.fakes import InMemoryPlatform, RecordingMetrics

# Generous for normal answers (a loaded CI box must not cause retries); tests of timeouts
# build their adapter with a short read timeout instead.
READ_TIMEOUT = 10.0
SHORT_READ_TIMEOUT = 0.3


class RecordingRandom(random.Random):
    """Real jitter, with the bounds of every draw kept for assertions."""

    def __init__(self, seed: int = 7) -> None:
        super().__init__(seed)
        self.bounds: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.bounds.append((a, b))
        return super().uniform(a, b)


@pytest.fixture
def backend() -> InMemoryPlatform:
    return InMemoryPlatform()


@pytest.fixture
def fake_platform(backend: InMemoryPlatform) -> Iterator[FakePlatformServer]:
    server = FakePlatformServer(backend, token=DEFAULT_TOKEN).start()
    yield server
    server.stop()
    problems = server.violations + [f"fake platform crashed: {crash}" for crash in server.crashes]
    assert not problems, "platform contract violated:\n" + "\n".join(problems)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def rng() -> RecordingRandom:
    return RecordingRandom()


@pytest.fixture
def recorded_metrics() -> RecordingMetrics:
    return RecordingMetrics()


MakeRest = Callable[..., RestPlatform]


@pytest.fixture
def make_rest(
    fake_platform: FakePlatformServer,
    sleeps: list[float],
    rng: RecordingRandom,
    recorded_metrics: RecordingMetrics,
) -> Iterator[MakeRest]:
    """``make_rest(read_timeout=0.3, token_provider=..., base_url=..., **settings)``."""
    clients: list[Any] = []

    def make(
        *,
        read_timeout: float = READ_TIMEOUT,
        token_provider: Callable[[], str] | None = None,
        base_url: str | None = None,
        **overrides: Any,
    ) -> RestPlatform:
        values: dict[str, Any] = {
            "platform_base_url": base_url or fake_platform.url,
            "platform_connect_timeout_seconds": 2.0,
            "platform_read_timeout_seconds": read_timeout,
            "platform_max_attempts": 3,
            "platform_backoff_base_seconds": 0.1,
            "platform_backoff_max_seconds": 1.0,
            "platform_retry_after_max_seconds": 5.0,
        }
        settings = Settings(**{**values, **overrides})
        http = build_http_client(settings)
        clients.append(http)
        return RestPlatform(
            http,
            settings.platform_base_url,
            token_provider or (lambda: DEFAULT_TOKEN),
            settings,
            sleep=sleeps.append,
            rng=rng,
            metrics=recorded_metrics,
        )

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def rest(make_rest: MakeRest) -> RestPlatform:
    return make_rest()

"""adapters/rest_platform.py RestPlatform under the contract suite.

The adapter talks real HTTP to tests/fake_rest_platform (a loopback server speaking
contracts/platform-openapi.yaml) with InMemoryPlatform behind it, so a pass here means:
the adapter keeps the port's promises over the wire, and every exchange matched the
contract (the fake checks both directions; a violation fails the test at teardown).
"""

from __future__ import annotations

import random

import pytest

from loyalty_bridge.adapters.rest_platform import RestPlatform
from loyalty_bridge.adapters.rest_transport import build_http_client
from loyalty_bridge.program.earn_rules import ProgramRules
from loyalty_bridge.settings import Settings
from tests.contract.harness import CAPABILITIES, PlatformHarness
from tests.fake_platform import FakeClock, InMemoryPlatform
from tests.fake_rest_platform import DEFAULT_TOKEN, FakePlatformServer
from tests.fakes import RecordingMetrics

NAME = "rest"


def open_harness(
    request: pytest.FixtureRequest, settings: Settings, rules: ProgramRules, clock: FakeClock
) -> PlatformHarness:
    backend = InMemoryPlatform(settings, rules, clock)
    server = FakePlatformServer(backend, token=DEFAULT_TOKEN).start()
    client_settings = settings.model_copy(
        update={"platform_base_url": server.url, "platform_read_timeout_seconds": 10.0}
    )
    http = build_http_client(client_settings)
    adapter = RestPlatform(
        http,
        server.url,
        lambda: DEFAULT_TOKEN,
        client_settings,
        sleep=lambda _seconds: None,  # no faults are injected here; never wait
        rng=random.Random(0),
        metrics=RecordingMetrics(),
    )

    def finish() -> None:
        http.close()
        server.stop()
        problems = server.violations + [f"fake platform crashed: {crash}" for crash in server.crashes]
        assert not problems, "platform contract violated:\n" + "\n".join(problems)

    request.addfinalizer(finish)
    return PlatformHarness(
        name=NAME,
        platform=adapter,
        clock=clock,
        settings=settings,
        rules=rules,
        # Back-office operations of the platform, outside the HTTP contract.
        import_physical_cards=backend.import_physical_cards,
        release_expired_holds=backend.release_expired_holds,
        entries_total=backend.balance_of,
        expire_points=backend.expire_points,
        # The platform contract has no member import: the adapter refuses it (not offered).
        capabilities=CAPABILITIES - {"member_import"},
    )

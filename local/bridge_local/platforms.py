"""``--platform``: which loyalty platform the local stack's functions talk to.

- ``ledger`` (default): the built-in DynamoDB ledger in moto; nothing to start.
- ``talon-one``: the Talon.One adapter (``PlatformAdapter=talon_one``) against the fake
  Talon.One Integration API of tests/fake_talon_one, started here on a free loopback port
  (or, with ``--platform-url``, a Talon.One already running: a test's own fake, or a real
  deployment with ``--platform-key`` and ``--param TalonOneLoyaltyProgramId=...``). Its API
  key goes where the adapter reads it: ``{"api_key": ...}`` in the PlatformSecret.

The fake is test code, loaded from the source tree (it is not part of the installed
packages), so ``make run --platform talon-one`` works from a checkout only.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field
from typing import Any

from bridge_local.template import PROJECT_ROOT

PLATFORMS = ("ledger", "talon-one")


@dataclass
class LocalPlatform:
    """What the stack needs for one platform: template parameters, secret values (by the
    secret's logical id) and, when started here, the server to stop with the stack."""

    name: str
    url: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)
    program_id: int | None = None
    api_key: str | None = None
    started_here: bool = False
    server: Any = None

    def describe(self) -> dict[str, Any]:
        """For the ready file and the banner."""
        return {
            "name": self.name,
            "url": self.url,
            "program_id": self.program_id,
            "api_key": self.api_key,
            "started_here": self.started_here,
        }

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


def _fake_talon_one() -> Any:
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    return importlib.import_module("tests.fake_talon_one")


def start_platform(
    name: str, *, url: str | None = None, api_key: str | None = None, host: str = "127.0.0.1"
) -> LocalPlatform:
    """The platform ``name`` ready for a stack (its fake started unless ``url`` is given)."""
    if name == "ledger":
        if url or api_key:
            raise SystemExit("--platform-url and --platform-key go with --platform talon-one")
        return LocalPlatform(name="ledger")
    if name != "talon-one":
        raise SystemExit(f"unknown platform {name!r} (one of {', '.join(PLATFORMS)})")
    fake = _fake_talon_one()
    key = api_key or str(fake.DEFAULT_API_KEY)
    platform = LocalPlatform(name="talon-one", program_id=int(fake.PROGRAM_ID), api_key=key)
    if url is None:
        platform.server = fake.serve(fake.FakeTalonOne(api_keys={key}), host=host, port=0)
        platform.url = str(platform.server.url)
        platform.started_here = True
    else:
        platform.url = url.rstrip("/")
    platform.parameters = {
        "PlatformAdapter": "talon_one",
        "TalonOneBaseUrl": platform.url,
        "TalonOneApplicationId": "1",
        "TalonOneLoyaltyProgramId": str(platform.program_id),
        "TalonOneReferralCampaignId": str(fake.REFERRAL_CAMPAIGN_ID),
    }
    platform.secrets = {"PlatformSecret": {"api_key": key}}
    return platform

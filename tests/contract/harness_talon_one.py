"""adapters/talon_one_platform.py TalonOnePlatform under the contract suite.

Real HTTP to tests/fake_talon_one (a loopback Talon.One checking every exchange against the
official Integration API schemas; a violation fails the test at teardown), and the bridge's
own part (holds, email and mobile index, answers of writes) in a BridgeTable on moto.
What the bridge does not offer on Talon.One is declared below and skipped by name.
"""

from __future__ import annotations

import random
import uuid

import pytest

from loyalty_bridge.adapters.rest_transport import build_http_client
from loyalty_bridge.adapters.talon_one_platform import TalonOnePlatform
from loyalty_bridge.adapters.talon_one_store import TalonOneStore
from loyalty_bridge.adapters.talon_one_transport import TalonOneHttp
from loyalty_bridge.program.earn_rules import ProgramRules
from loyalty_bridge.settings import Settings
from tests.contract.harness import CAPABILITIES, PlatformHarness
from tests.contract.moto_ledger import dynamodb_client, serialized_moto_endpoint
from tests.fake_platform import FakeClock
from tests.fake_talon_one import DEFAULT_API_KEY, PROGRAM_ID, REFERRAL_CAMPAIGN_ID, FakeTalonOne, serve
from tests.fakes import RecordingMetrics
from tests.ops.cfn import resources

NAME = "talon_one"
# The program is a Talon.One campaign (points per spend), not the bridge's program settings;
# cards are merged, blocked or replaced, points adjusted, statistics read,
# and shortfalls told by no part of the bridge here. Referral codes are the fake's referral
# campaign's (the referral bonus is a Talon.One campaign too, so the tests of the bridge's
# bonus rule stay skipped by "program_rules").
LACKS = frozenset(
    {
        "program_rules",
        "pending_points",
        "merge_cards",
        "reversal_shortfall",
        "adjust",
        "stats",
        "card_lifecycle",
        "member_import",
    }
)


def create_bridge_table(client: object) -> str:
    props = resources()["BridgeTable"]["Properties"]
    name = f"bridge-{uuid.uuid4().hex[:12]}"
    keep = ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode")
    client.create_table(TableName=name, **{k: props[k] for k in keep if k in props})  # type: ignore[attr-defined]
    return name


def open_harness(
    request: pytest.FixtureRequest, settings: Settings, rules: ProgramRules, clock: FakeClock
) -> PlatformHarness:
    app = FakeTalonOne()
    app.state.now = clock
    server = serve(app)
    client_settings = settings.model_copy(update={"platform_read_timeout_seconds": 10.0})
    http = build_http_client(client_settings)
    api = TalonOneHttp(
        http,
        server.url,
        lambda: DEFAULT_API_KEY,
        client_settings,
        sleep=lambda _seconds: None,
        rng=random.Random(0),
        metrics=RecordingMetrics(),
    )
    ddb = dynamodb_client(serialized_moto_endpoint())
    store = TalonOneStore(ddb, create_bridge_table(ddb))
    adapter = TalonOnePlatform(
        api,
        store,
        settings,
        program_id=PROGRAM_ID,
        referral_campaign_id=REFERRAL_CAMPAIGN_ID,
        clock=clock,
    )

    def finish() -> None:
        http.close()
        server.stop()
        problems = app.violations + [f"fake Talon.One crashed: {crash}" for crash in app.crashes]
        assert not problems, "Talon.One schema violated:\n" + "\n".join(problems)

    request.addfinalizer(finish)
    return PlatformHarness(
        name=NAME,
        platform=adapter,
        clock=clock,
        settings=settings,
        rules=rules,
        import_physical_cards=lambda numbers: app.import_cards(list(numbers)),
        capabilities=CAPABILITIES - LACKS,
    )

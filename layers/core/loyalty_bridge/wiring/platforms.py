"""The loyalty platform port and its adapters: the built-in ledger, REST, Talon.One."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from loyalty_bridge.wiring.core import aws_client, cached, metrics, secrets, settings
from loyalty_bridge.wiring.program import program_source

if TYPE_CHECKING:
    import httpx
    from mypy_boto3_dynamodb import DynamoDBClient

    from loyalty_bridge.adapters.ledger import DynamoDbLedger
    from loyalty_bridge.adapters.rest_platform import RestPlatform
    from loyalty_bridge.ports import LoyaltyPlatform


@cached
def ledger() -> DynamoDbLedger:
    """The built-in ledger on LedgerTable, priced by the program in force (R9: the versioned
    program through ``program_source``, cached; EARN_RULES_JSON seeds version 1). Also what
    the hold sweeper uses (``release_expired_holds``)."""
    from loyalty_bridge.adapters.ledger import DynamoDbLedger

    current = settings()
    return DynamoDbLedger(
        cast("DynamoDBClient", aws_client("dynamodb")), current.ledger_table, current, program_source()
    )


@cached
def platform() -> LoyaltyPlatform:
    """The loyalty platform chosen by settings.platform_adapter: "ledger" (default), "rest"
    or "talon_one"."""
    if settings().platform_adapter == "rest":
        return rest_platform()  # adapters/rest_platform.py, imported lazily there
    if settings().platform_adapter == "talon_one":
        return talon_one_platform()
    return ledger()


@cached
def platform_http() -> httpx.Client:
    """Pooled httpx client for the external platform (timeouts and limits from settings)."""
    from loyalty_bridge.adapters.rest_transport import build_http_client

    return build_http_client(settings())


@cached
def rest_platform() -> RestPlatform:
    """settings.platform_adapter == "rest": the external platform over HTTP, with its bearer
    token read from Secrets Manager (settings.platform_secret_arn, JSON {"token": ...})."""
    from loyalty_bridge.adapters.rest_platform import RestPlatform
    from loyalty_bridge.adapters.rest_transport import SecretBearerToken

    current = settings()
    token = SecretBearerToken(secrets(), current.platform_secret_arn)
    return RestPlatform(platform_http(), current.platform_base_url, token, current, metrics=metrics())


@cached
def talon_one_platform() -> LoyaltyPlatform:
    """settings.platform_adapter == "talon_one": Talon.One's Integration API (its API key in
    the platform secret, JSON {"api_key": ...}) and the bridge's part in BridgeTable."""
    from loyalty_bridge.adapters.rest_transport import PlatformNotConfigured
    from loyalty_bridge.adapters.talon_one_platform import TalonOnePlatform
    from loyalty_bridge.adapters.talon_one_store import TalonOneStore
    from loyalty_bridge.adapters.talon_one_transport import TalonOneApiKey, TalonOneHttp

    current = settings()
    if not current.talon_one_base_url or current.talon_one_loyalty_program_id <= 0:
        raise PlatformNotConfigured("TALON_ONE_BASE_URL and TALON_ONE_LOYALTY_PROGRAM_ID must be set")
    api = TalonOneHttp(
        platform_http(),
        current.talon_one_base_url,
        TalonOneApiKey(secrets(), current.platform_secret_arn),
        current,
        metrics=metrics(),
    )
    store = TalonOneStore(cast("DynamoDBClient", aws_client("dynamodb")), current.bridge_table)
    return TalonOnePlatform(
        api,
        store,
        current,
        program_id=current.talon_one_loyalty_program_id,
        referral_campaign_id=current.talon_one_referral_campaign_id,
    )

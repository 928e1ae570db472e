"""Composition root: lazily built AWS/HTTP clients -> adapters -> services, cached while warm.

Nothing here runs at import time. Handlers call e.g. ``wiring.membership_service()``;
tests swap dependencies by calling ``reset()`` after changing the environment, or by
constructing services directly with fakes.

Convention: one ``@cached`` function per adapter or service; add yours in its section.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any, cast

from loyalty_bridge.settings import Settings, get_settings

if TYPE_CHECKING:
    from botocore.client import BaseClient
    from mypy_boto3_dynamodb import DynamoDBClient

    from loyalty_bridge.adapters.customers import DynamoCustomers
    from loyalty_bridge.models.records import CustomerRecord

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


# ---------------------------------------------------------------- metrics (ports.Metrics)

if TYPE_CHECKING:
    from loyalty_bridge.ports import Metrics


@cached
def metrics() -> Metrics:
    """Business metrics as EMF through the shared Powertools ``metrics`` (flushed by each
    handler's ``@metrics.log_metrics``)."""
    from loyalty_bridge.observability import PowertoolsMetrics

    return PowertoolsMetrics()


# ---------------------------------------------------------------- membership (customers)


@cached
def customers() -> DynamoCustomers:
    from loyalty_bridge.adapters.customers import DynamoCustomers

    return DynamoCustomers(cast("DynamoDBClient", aws_client("dynamodb")), settings().bridge_table)


if TYPE_CHECKING:
    from loyalty_bridge.adapters.customers import DynamoBalanceSnapshots
    from loyalty_bridge.adapters.verification import DynamoVerificationStore
    from loyalty_bridge.ports import BalanceSource
    from loyalty_bridge.services.attach import AttachService
    from loyalty_bridge.services.balances import BalanceRecorder
    from loyalty_bridge.services.enrolment import EnrolmentService
    from loyalty_bridge.services.membership import Incidents, Linker, RecordUpdater
    from loyalty_bridge.services.phone import PhoneService
    from loyalty_bridge.services.signup import SignupService
    from loyalty_bridge.services.summary import SummaryService
    from loyalty_bridge.services.verification import CodeBook

# Only for stages without a VERIFICATION_SECRET_ARN (unit tests, ad-hoc local runs).
_DEV_PEPPER = b"loyalty-bridge-dev-pepper-not-for-production"


@cached
def verification_store() -> DynamoVerificationStore:
    from loyalty_bridge.adapters.verification import DynamoVerificationStore

    return DynamoVerificationStore(cast("DynamoDBClient", aws_client("dynamodb")), settings().bridge_table)


@cached
def balance_snapshots() -> DynamoBalanceSnapshots:
    """Last known balance per member (BridgeTable): REST platforms record it when points move."""
    from loyalty_bridge.adapters.customers import DynamoBalanceSnapshots

    return DynamoBalanceSnapshots(cast("DynamoDBClient", aws_client("dynamodb")), settings().bridge_table)


@cached
def verification_pepper() -> bytes:
    arn = settings().verification_secret_arn
    if not arn:
        if settings().stage in ("local", "test"):
            return _DEV_PEPPER
        raise ValueError("VERIFICATION_SECRET_ARN is not set")
    value = secrets().read_json_secret(arn)
    pepper = str(value.get("pepper") or "")
    if not pepper:
        raise ValueError("the verification secret has no 'pepper'")
    return pepper.encode()


@cached
def code_book() -> CodeBook:
    from datetime import timedelta

    from loyalty_bridge.services.verification import CodeBook

    return CodeBook(
        verification_store(),
        verification_pepper(),
        ttl=timedelta(seconds=settings().verification_code_ttl_seconds),
    )


@cached
def balance_recorder() -> BalanceRecorder | None:
    """Where every balance change goes so the login summary shows it at once: only for
    platforms the summary reads from a snapshot (not the ledger, which it reads itself)."""
    if settings().platform_adapter == "ledger":
        return None
    from loyalty_bridge.services.balances import BalanceRecorder

    return BalanceRecorder(platform(), balance_snapshots())


@cached
def balance_source() -> BalanceSource:
    """A6: the ledger answers from its own balance item; other platforms from a snapshot."""
    if settings().platform_adapter == "ledger":
        return platform()
    from loyalty_bridge.services.summary import SnapshotBalances

    return SnapshotBalances(balance_snapshots(), platform())


@cached
def _membership_parts() -> tuple[RecordUpdater, Incidents, Linker]:
    from loyalty_bridge.services.membership import Incidents, Linker, RecordUpdater

    updater = RecordUpdater(customers())
    linker = Linker(updater, platform(), balance_recorder(), on_joined=_announce_join)
    return updater, Incidents(incident_reporter()), linker


def _announce_join(record: CustomerRecord) -> None:
    from loyalty_bridge.services.sync_queue import announce_join

    announce_join(queue("profile_sync"), incident_reporter(), record)


@cached
def signup_service() -> SignupService:
    from loyalty_bridge.services.signup import SignupService

    return SignupService(
        customers(),
        queue("membership"),
        settings(),
        verifications=verification_store(),
        sync_queue=queue("profile_sync"),
        incidents=incident_reporter(),
        metrics=metrics(),
    )


@cached
def summary_service() -> SummaryService:
    from loyalty_bridge.services.summary import SummaryService

    # The reward catalogue (R4 next_reward): the ledger's configuration, or the REST
    # adapter's cached copy of the platform's.
    return SummaryService(
        customers(), balance_source(), settings(), rewards=platform(), program=program_source()
    )


if TYPE_CHECKING:
    from loyalty_bridge.services.rewards import RewardsService


@cached
def rewards_service() -> RewardsService:
    """R4: redeem a reward for a coupon; the customer's coupons."""
    from loyalty_bridge.services.rewards import RewardsService

    return RewardsService(customers(), platform(), balances=balance_recorder())


@cached
def attach_service() -> AttachService:
    from loyalty_bridge.services.attach import AttachService

    updater, incidents, linker = _membership_parts()
    return AttachService(updater, platform(), code_book(), mailer(), incidents, linker, metrics=metrics())


@cached
def phone_service() -> PhoneService:
    from loyalty_bridge.services.phone import PhoneService

    updater, incidents, linker = _membership_parts()
    return PhoneService(
        updater,
        platform(),
        code_book(),
        sms_sender(),
        incidents,
        linker,
        queue("membership"),
        consents=profile_updates(),  # A7 consent goes through the ordered profile sync
        metrics=metrics(),
    )


@cached
def enrolment_service() -> EnrolmentService:
    from loyalty_bridge.services.enrolment import EnrolmentService

    updater, incidents, linker = _membership_parts()
    return EnrolmentService(
        updater, platform(), incidents, incident_reporter(), linker, attach_service(), metrics=metrics()
    )


# ---------------------------------------------------------------- core: secrets, signing, messaging

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_ses import SESClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

    from loyalty_bridge.adapters.secrets import SecretsReader
    from loyalty_bridge.adapters.sqs import SqsQueue
    from loyalty_bridge.ports import Mailer, SmsSender
    from loyalty_bridge.signing import SigningKeys

QUEUE_NAMES = ("membership", "profile_sync", "order")


@cached
def secrets() -> SecretsReader:
    from loyalty_bridge.adapters.secrets import SecretsReader

    return SecretsReader(cast("SecretsManagerClient", aws_client("secretsmanager")))


@cached
def signing_keys() -> SigningKeys:
    from loyalty_bridge.signing import SigningKeys

    return SigningKeys(secrets(), prefix=settings().signing_secret_prefix)


@cached
def idempotency_store() -> DynamoDBPersistenceLayer:
    """Powertools idempotency persistence (IdempotencyTable) used by http_api."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    return DynamoDBPersistenceLayer(
        table_name=settings().idempotency_table,
        boto3_client=cast("DynamoDBClient", aws_client("dynamodb")),
    )


@cached
def mailer() -> Mailer:
    from loyalty_bridge.adapters.ses import SesMailer

    return SesMailer(cast("SESClient", aws_client("ses")), sender=settings().sender_email)


@cached
def sms_sender() -> SmsSender:
    if settings().sms_adapter == "capture":
        from loyalty_bridge.adapters.sms import FileCaptureSms

        return FileCaptureSms(settings().sms_capture_dir)
    from loyalty_bridge.adapters.sms import SnsSms

    return SnsSms(cast("SNSClient", aws_client("sns")))


@cached
def queue(name: str) -> SqsQueue:
    """The queue called ``name`` (one of QUEUE_NAMES), from its ``*_queue_url`` setting."""
    from loyalty_bridge.adapters.sqs import SqsQueue

    if name not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {name!r}; expected one of {QUEUE_NAMES}")
    url: str = getattr(settings(), f"{name}_queue_url")
    if not url:
        raise ValueError(f"{name.upper()}_QUEUE_URL is not set")
    return SqsQueue(cast("SQSClient", aws_client("sqs")), url)


# ---------------------------------------------------------------- incidents (error store, admin email)

if TYPE_CHECKING:
    from loyalty_bridge.adapters.error_store import DynamoErrorStore
    from loyalty_bridge.services.incidents import IncidentReporter


@cached
def error_store() -> DynamoErrorStore:
    from loyalty_bridge.adapters.error_store import DynamoErrorStore

    return DynamoErrorStore(cast("DynamoDBClient", aws_client("dynamodb")), settings().errors_table)


@cached
def incident_reporter() -> IncidentReporter:
    from loyalty_bridge.services.incidents import IncidentReporter

    return IncidentReporter(error_store(), mailer(), settings(), metrics=metrics())


# ---------------------------------------------------------------- loyalty platform: port and built-in ledger

if TYPE_CHECKING:
    from loyalty_bridge.adapters.ledger import DynamoDbLedger
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


# ---------------------------------------------------------------- loyalty platform: REST adapter

if TYPE_CHECKING:
    import httpx

    from loyalty_bridge.adapters.rest_platform import RestPlatform


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
    return TalonOnePlatform(api, store, current, program_id=current.talon_one_loyalty_program_id)


# ---------------------------------------------------------------- checkout and orders

if TYPE_CHECKING:
    from loyalty_bridge.adapters.checkout_store import DynamoCheckoutStore
    from loyalty_bridge.services.checkout import CheckoutService
    from loyalty_bridge.services.orders import OrderService


@cached
def checkout_store() -> DynamoCheckoutStore:
    from loyalty_bridge.adapters.checkout_store import DynamoCheckoutStore

    return DynamoCheckoutStore(cast("DynamoDBClient", aws_client("dynamodb")), settings().bridge_table)


@cached
def checkout_service() -> CheckoutService:
    from loyalty_bridge.services.checkout import CheckoutService

    return CheckoutService(
        platform=platform(),
        customers=customers(),
        store=checkout_store(),
        settings=settings(),
        metrics=metrics(),
        balances=balance_recorder(),
        stores=store_directory(),
        program=ledger_program(),
    )


@cached
def order_service() -> OrderService:
    from loyalty_bridge.services.orders import OrderService

    return OrderService(
        platform=platform(),
        customers=customers(),
        store=checkout_store(),
        queue=queue("order"),
        incidents=incident_reporter(),
        settings=settings(),
        metrics=metrics(),
        balances=balance_recorder(),
        stores=store_directory(),
        program=ledger_program(),
    )


# ---------------------------------------------------------------- card stock (seed 000), prefill (seed 002)

if TYPE_CHECKING:
    from loyalty_bridge.services.card_stock import CardStock
    from loyalty_bridge.services.prefill import PrefillService


@cached
def card_stock() -> CardStock:
    from loyalty_bridge.services.card_stock import CardStock

    return CardStock(platform())


@cached
def prefill_service() -> PrefillService:
    from loyalty_bridge.services.prefill import PrefillService

    return PrefillService(customers(), platform())


# ---------------------------------------------------------------- stores and staff (R6)

if TYPE_CHECKING:
    from loyalty_bridge.adapters.stores import DynamoStoreRegistry
    from loyalty_bridge.services.stores import StoreDirectory


@cached
def store_registry() -> DynamoStoreRegistry:
    from loyalty_bridge.adapters.stores import DynamoStoreRegistry

    return DynamoStoreRegistry(cast("DynamoDBClient", aws_client("dynamodb")), settings().bridge_table)


@cached
def store_directory() -> StoreDirectory:
    """Stores and staff users; ``check`` is what orders, quotes and adjustments call."""
    from loyalty_bridge.services.stores import StoreDirectory

    return StoreDirectory(store_registry())


# ---------------------------------------------------------------- profile sync (P1-P5), Mailchimp

if TYPE_CHECKING:
    from loyalty_bridge.adapters.mailchimp import MailchimpAudience, MailchimpCredentials
    from loyalty_bridge.adapters.profile_sync_state import DynamoSyncState
    from loyalty_bridge.adapters.sms_optouts import DynamoSmsOptOuts
    from loyalty_bridge.services.profile_sync import ProfileSync
    from loyalty_bridge.services.profile_updates import ProfileUpdates


@cached
def sync_state() -> DynamoSyncState:
    from loyalty_bridge.adapters.profile_sync_state import DynamoSyncState

    return DynamoSyncState(cast("DynamoDBClient", aws_client("dynamodb")), settings().bridge_table)


@cached
def sms_optouts() -> DynamoSmsOptOuts:
    from loyalty_bridge.adapters.sms_optouts import DynamoSmsOptOuts

    sns = aws_client("sns") if settings().sms_adapter == "sns" else None
    return DynamoSmsOptOuts(cast("DynamoDBClient", aws_client("dynamodb")), settings().bridge_table, sns=sns)


def mailchimp_credentials() -> MailchimpCredentials:
    """The Mailchimp secret ({"api_key", "webhook_secret"}), cached by the secrets reader."""
    from loyalty_bridge.adapters.mailchimp import MailchimpCredentials

    arn = settings().mailchimp_secret_arn
    if not arn:
        return MailchimpCredentials()
    return MailchimpCredentials.model_validate(secrets().read_json_secret(arn))


@cached
def mailchimp_http() -> httpx.Client:
    """At most 10 connections: Mailchimp's limit of simultaneous connections per API key."""
    import httpx

    from loyalty_bridge.adapters.mailchimp import MAX_CONNECTIONS

    return httpx.Client(
        timeout=httpx.Timeout(5.0, connect=2.0, pool=20.0),
        limits=httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS),
        headers={"User-Agent": "loyalty-bridge"},
    )


@cached
def mailing_list() -> MailchimpAudience | None:
    """Mailchimp, or None when no audience (MAILCHIMP_LIST_ID) is configured."""
    from loyalty_bridge.adapters.mailchimp import MailchimpAudience

    current = settings()
    if not current.mailchimp_list_id:
        return None
    return MailchimpAudience(
        mailchimp_http(),
        current.mailchimp_list_id,
        mailchimp_credentials,
        base_url=current.mailchimp_base_url,
        merge_tag=current.mailchimp_merge_tag,
    )


@cached
def profile_updates() -> ProfileUpdates:
    from loyalty_bridge.services.profile_updates import ProfileUpdates

    return ProfileUpdates(customers(), queue("profile_sync"), sync_state(), incident_reporter())


if TYPE_CHECKING:
    from loyalty_bridge.services.queue_policy import FailurePolicy


@cached
def failure_policy() -> FailurePolicy:
    """The queue workers' retry-or-record policy (settings.queue_max_receives deliveries)."""
    from loyalty_bridge.services.queue_policy import FailurePolicy

    return FailurePolicy.of(settings())


@cached
def profile_sync() -> ProfileSync:
    from loyalty_bridge.services.profile_sync import ProfileSync

    return ProfileSync(
        customers(),
        platform(),
        sync_state(),
        incident_reporter(),
        metrics=metrics(),
        mailing_list=mailing_list(),
        sms_optouts=sms_optouts(),
        policy=failure_policy(),
    )


if TYPE_CHECKING:
    from loyalty_bridge.services.admin import AdminErrors


@cached
def admin_errors() -> AdminErrors:
    from loyalty_bridge.services.admin import AdminErrors

    return AdminErrors(error_store(), queue)


# ---------------------------------------------------------------- the program as data (R9, R11)

if TYPE_CHECKING:
    from loyalty_bridge.adapters.program_store import DynamoProgramStore
    from loyalty_bridge.ports import ProgramSource
    from loyalty_bridge.program.earn_rules import ProgramRules
    from loyalty_bridge.services.program import ProgramAdmin, StorefrontProgramView


@cached
def program_seed() -> ProgramRules:
    """Version 1 until an admin stores another: the template's EarnRulesJson."""
    from loyalty_bridge.program.earn_rules import load_rules

    return load_rules(settings())


@cached
def program_store() -> DynamoProgramStore:
    from loyalty_bridge.adapters.program_store import DynamoProgramStore

    return DynamoProgramStore(cast("DynamoDBClient", aws_client("dynamodb")), settings().bridge_table)


@cached
def program_source() -> ProgramSource:
    """The program in force, through Powertools Parameters (DynamoDB provider) cached for
    PROGRAM_MAX_AGE_SECONDS per warm container: what the ledger and storefront read."""
    from aws_lambda_powertools.utilities.parameters import DynamoDBProvider

    from loyalty_bridge.adapters.program_store import ParameterProgramSource

    resource = _boto_session().resource(
        "dynamodb", endpoint_url=settings().aws_endpoint_url, config=aws_client("dynamodb").meta.config
    )
    provider = DynamoDBProvider(
        table_name=settings().bridge_table,
        key_attr="pk",
        sort_attr="sk",
        value_attr="value",
        boto3_client=resource,
    )
    return ParameterProgramSource(provider, program_seed())


def ledger_program() -> ProgramSource | None:
    """The program the bridge's own ledger prices with (R10 currency checks); None when
    another platform's program prices the points."""
    return program_source() if settings().platform_adapter == "ledger" else None


@cached
def program_admin() -> ProgramAdmin:
    from loyalty_bridge.services.program import ProgramAdmin

    return ProgramAdmin(program_store(), customers(), program_seed())


@cached
def storefront_program() -> StorefrontProgramView:
    from loyalty_bridge.services.program import StorefrontProgramView

    return StorefrontProgramView(program_source())

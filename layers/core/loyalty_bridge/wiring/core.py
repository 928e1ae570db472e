"""The composition root's base: ``cached``/``reset``, settings, AWS clients, metrics,
secrets, signing, queues, the error store and incident reporter, the queue failure policy."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any, cast

from loyalty_bridge.settings import Settings, get_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
    from botocore.client import BaseClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_ses import SESClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

    from loyalty_bridge.adapters.error_store import DynamoErrorStore
    from loyalty_bridge.adapters.secrets import SecretsReader
    from loyalty_bridge.adapters.sqs import SqsQueue
    from loyalty_bridge.ports import Mailer, Metrics, SmsSender
    from loyalty_bridge.services.incidents import IncidentReporter
    from loyalty_bridge.services.queue_policy import FailurePolicy
    from loyalty_bridge.signing import SigningKeys

_CACHED: list[Any] = []
QUEUE_NAMES = ("membership", "profile_sync", "order")


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


class _LazyClient:
    """Stands in for ``aws_client(service)`` and makes it on first use. Adapters get their
    client when they are wired, but a request that never mails, queues or texts should not
    build that client (a few ms each on a cold start, docs/PERFORMANCE.md)."""

    __slots__ = ("_service",)

    def __init__(self, service: str) -> None:
        self._service = service

    def __getattr__(self, name: str) -> Any:
        return getattr(aws_client(self._service), name)

    def __repr__(self) -> str:
        return f"lazy_client({self._service!r})"


def lazy_client(service: str) -> BaseClient:
    """``aws_client(service)``, made when an adapter first calls it (see _LazyClient)."""
    return cast("BaseClient", _LazyClient(service))


@cached
def metrics() -> Metrics:
    """Business metrics as EMF through the shared Powertools ``metrics`` (flushed by each
    handler's ``@metrics.log_metrics``)."""
    from loyalty_bridge.observability import PowertoolsMetrics

    return PowertoolsMetrics()


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
    """Powertools idempotency persistence (IdempotencyTable) used by http_api; a change's
    transaction can complete its record (adapters/idempotency.py)."""
    from loyalty_bridge.adapters.idempotency import IdempotencyRecords

    return IdempotencyRecords(
        table_name=settings().idempotency_table,
        boto3_client=cast("DynamoDBClient", aws_client("dynamodb")),
    )


@cached
def mailer() -> Mailer:
    from loyalty_bridge.adapters.ses import SesMailer

    return SesMailer(cast("SESClient", lazy_client("ses")), sender=settings().sender_email)


@cached
def sms_sender() -> SmsSender:
    if settings().sms_adapter == "capture":
        from loyalty_bridge.adapters.sms import FileCaptureSms

        return FileCaptureSms(settings().sms_capture_dir)
    from loyalty_bridge.adapters.sms import SnsSms

    return SnsSms(cast("SNSClient", lazy_client("sns")))


@cached
def queue(name: str) -> SqsQueue:
    """The queue called ``name`` (one of QUEUE_NAMES), from its ``*_queue_url`` setting."""
    from loyalty_bridge.adapters.sqs import SqsQueue

    if name not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {name!r}; expected one of {QUEUE_NAMES}")
    url: str = getattr(settings(), f"{name}_queue_url")
    if not url:
        raise ValueError(f"{name.upper()}_QUEUE_URL is not set")
    return SqsQueue(cast("SQSClient", lazy_client("sqs")), url)


@cached
def error_store() -> DynamoErrorStore:
    from loyalty_bridge.adapters.error_store import DynamoErrorStore

    return DynamoErrorStore(cast("DynamoDBClient", aws_client("dynamodb")), settings().errors_table)


@cached
def incident_reporter() -> IncidentReporter:
    from loyalty_bridge.services.incidents import IncidentReporter

    return IncidentReporter(error_store(), mailer(), settings(), metrics=metrics())


@cached
def failure_policy() -> FailurePolicy:
    """The queue workers' retry-or-record policy (settings.queue_max_receives deliveries)."""
    from loyalty_bridge.services.queue_policy import FailurePolicy

    return FailurePolicy.of(settings())

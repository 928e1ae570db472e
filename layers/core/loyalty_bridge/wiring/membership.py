"""Customers and membership (A1-A11): records, verification, balances, the membership
services, the profile changes the API queues, card stock, card lifecycle, prefill."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from loyalty_bridge.wiring.core import (
    aws_client,
    cached,
    incident_reporter,
    mailer,
    metrics,
    queue,
    secrets,
    settings,
    sms_sender,
)
from loyalty_bridge.wiring.platforms import platform
from loyalty_bridge.wiring.program import program_source

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

    from loyalty_bridge.adapters.customers import DynamoBalanceSnapshots, DynamoCustomers
    from loyalty_bridge.adapters.profile_sync_state import DynamoSyncState
    from loyalty_bridge.adapters.verification import DynamoVerificationStore
    from loyalty_bridge.models.records import CustomerRecord
    from loyalty_bridge.ports import BalanceSource
    from loyalty_bridge.services.attach import AttachService
    from loyalty_bridge.services.balances import BalanceRecorder
    from loyalty_bridge.services.bucket_import import BucketImport
    from loyalty_bridge.services.card_lifecycle import CardLifecycle
    from loyalty_bridge.services.card_stock import CardStock
    from loyalty_bridge.services.enrolment import EnrolmentService
    from loyalty_bridge.services.loyalty_reach import LoyaltyDataAnnouncer
    from loyalty_bridge.services.member_import import MemberImport
    from loyalty_bridge.services.membership import Incidents, Linker, RecordUpdater
    from loyalty_bridge.services.phone import PhoneService
    from loyalty_bridge.services.prefill import PrefillService
    from loyalty_bridge.services.profile_updates import ProfileUpdates
    from loyalty_bridge.services.rewards import RewardsService
    from loyalty_bridge.services.signup import SignupService
    from loyalty_bridge.services.summary import SummaryService
    from loyalty_bridge.services.verification import CodeBook

_DEV_PEPPER = b"loyalty-bridge-dev-pepper-not-for-production"


# ---------------------------------------------------------------- membership (customers)


@cached
def customers() -> DynamoCustomers:
    from loyalty_bridge.adapters.customers import DynamoCustomers

    return DynamoCustomers(cast("DynamoDBClient", aws_client("dynamodb")), settings().bridge_table)


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
    platforms the summary reads from a snapshot (not the ledger, which it reads itself);
    with Mailchimp on, every platform's changes also queue the member's loyalty data (P6)."""
    current = settings()
    announce = _loyalty_data_announcer() if current.mailchimp_list_id else None
    if current.platform_adapter == "ledger" and announce is None:
        return None
    from loyalty_bridge.services.balances import BalanceRecorder

    snapshots = None if current.platform_adapter == "ledger" else balance_snapshots()
    return BalanceRecorder(platform(), snapshots, on_moved=announce)


def _loyalty_data_announcer() -> LoyaltyDataAnnouncer:
    from loyalty_bridge.services.loyalty_reach import LoyaltyDataAnnouncer

    return LoyaltyDataAnnouncer(customers(), queue("profile_sync"), incident_reporter())


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
    linker = Linker(
        updater, platform(), balance_recorder(), on_joined=_announce_join, sync_state=sync_state()
    )
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


@cached
def card_lifecycle() -> CardLifecycle:
    """A10: block and replace cards (admin)."""
    from loyalty_bridge.services.card_lifecycle import CardLifecycle

    return CardLifecycle(platform(), customers(), settings(), metrics=metrics(), balances=balance_recorder())


@cached
def card_stock() -> CardStock:
    from loyalty_bridge.services.card_stock import CardStock

    return CardStock(platform())


@cached
def member_import() -> MemberImport:
    """Seed 002: members of an earlier program with their cards and balances (admin)."""
    from loyalty_bridge.services.member_import import MemberImport

    return MemberImport(platform())


@cached
def bucket_import() -> BucketImport:
    """Issue 18: a member file put in the import bucket, imported chunk by chunk (worker)."""
    from loyalty_bridge.adapters.import_bucket import S3ImportObjects
    from loyalty_bridge.adapters.import_runs import DynamoImportRuns
    from loyalty_bridge.adapters.sqs import SqsQueue
    from loyalty_bridge.services.bucket_import import BucketImport, ChunkLimits

    s = settings()
    if not s.member_import_queue_url:
        raise ValueError("MEMBER_IMPORT_QUEUE_URL is not set")
    return BucketImport(
        member_import(),
        S3ImportObjects(cast("S3Client", aws_client("s3"))),
        DynamoImportRuns(cast("DynamoDBClient", aws_client("dynamodb")), s.bridge_table),
        SqsQueue(cast("SQSClient", aws_client("sqs")), s.member_import_queue_url),
        mailer(),
        admin_emails=s.admin_emails if s.notify_admins else (),
        stage=s.stage,
        limits=ChunkLimits(
            lines=max(1, min(s.member_import_chunk_lines, 1_000)),
            bytes=max(1024, s.member_import_chunk_bytes),
            max_line_bytes=max(256, s.member_import_max_line_bytes),
        ),
    )


@cached
def prefill_service() -> PrefillService:
    from loyalty_bridge.services.prefill import PrefillService

    return PrefillService(customers(), platform())


@cached
def sync_state() -> DynamoSyncState:
    from loyalty_bridge.adapters.profile_sync_state import DynamoSyncState

    return DynamoSyncState(cast("DynamoDBClient", aws_client("dynamodb")), settings().bridge_table)


@cached
def profile_updates() -> ProfileUpdates:
    from loyalty_bridge.services.profile_updates import ProfileUpdates

    return ProfileUpdates(customers(), queue("profile_sync"), sync_state(), incident_reporter())

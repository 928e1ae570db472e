"""The profile sync worker and Mailchimp (P1-P5), the admin error store, the program's
admin and storefront views (R9, R11)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from loyalty_bridge.wiring.core import (
    aws_client,
    cached,
    error_store,
    failure_policy,
    incident_reporter,
    lazy_client,
    metrics,
    queue,
    secrets,
    settings,
)
from loyalty_bridge.wiring.membership import customers, summary_service, sync_state
from loyalty_bridge.wiring.platforms import platform
from loyalty_bridge.wiring.program import program_seed, program_source, program_store

if TYPE_CHECKING:
    import httpx
    from mypy_boto3_dynamodb import DynamoDBClient

    from loyalty_bridge.adapters.mailchimp import MailchimpAudience, MailchimpCredentials
    from loyalty_bridge.adapters.sms_optouts import DynamoSmsOptOuts
    from loyalty_bridge.services.admin import AdminErrors
    from loyalty_bridge.services.loyalty_reach import LoyaltyReach
    from loyalty_bridge.services.profile_sync import ProfileSync
    from loyalty_bridge.services.program import ProgramAdmin, StorefrontProgramView


@cached
def sms_optouts() -> DynamoSmsOptOuts:
    from loyalty_bridge.adapters.sms_optouts import DynamoSmsOptOuts

    sns = lazy_client("sns") if settings().sms_adapter == "sns" else None
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
        reach=loyalty_reach(),
    )


@cached
def loyalty_reach() -> LoyaltyReach | None:
    """P6: the loyalty merge fields in Mailchimp, or None when Mailchimp is off."""
    audience = mailing_list()
    if audience is None:
        return None
    from loyalty_bridge.services.loyalty_reach import LoyaltyReach

    summaries = summary_service()
    return LoyaltyReach(summaries.of, sync_state(), audience)


@cached
def admin_errors() -> AdminErrors:
    from loyalty_bridge.services.admin import AdminErrors

    return AdminErrors(error_store(), queue)


@cached
def program_admin() -> ProgramAdmin:
    from loyalty_bridge.services.program import ProgramAdmin

    return ProgramAdmin(program_store(), customers(), program_seed())


@cached
def storefront_program() -> StorefrontProgramView:
    from loyalty_bridge.services.program import StorefrontProgramView

    return StorefrontProgramView(program_source())

"""Composition root: lazily built AWS/HTTP clients -> adapters -> services, cached while warm.

Nothing here runs at import time. Handlers call e.g. ``wiring.membership_service()``;
tests swap dependencies by calling ``reset()`` after changing the environment, or by
constructing services directly with fakes.

Convention: one ``@cached`` function per adapter or service; add yours in its section.

One module per area (core, program, platforms, membership, checkout, profile, data_rights); every
function is importable from here as ``wiring.x``.
"""

from __future__ import annotations

from loyalty_bridge.wiring.checkout import (
    adjustment_service,
    checkout_service,
    checkout_store,
    history_service,
    order_service,
    stats_service,
    store_directory,
    store_registry,
)
from loyalty_bridge.wiring.core import (
    QUEUE_NAMES,
    aws_client,
    cached,
    error_store,
    failure_policy,
    idempotency_store,
    incident_reporter,
    mailer,
    metrics,
    queue,
    reset,
    secrets,
    settings,
    signing_keys,
    sms_sender,
)
from loyalty_bridge.wiring.data_rights import customer_data, customer_eraser, customer_exporter
from loyalty_bridge.wiring.membership import (
    attach_service,
    balance_recorder,
    balance_snapshots,
    balance_source,
    card_lifecycle,
    card_stock,
    code_book,
    customers,
    enrolment_service,
    member_import,
    phone_service,
    prefill_service,
    profile_updates,
    rewards_service,
    signup_service,
    summary_service,
    sync_state,
    verification_pepper,
    verification_store,
)
from loyalty_bridge.wiring.platforms import (
    ledger,
    platform,
    platform_http,
    rest_platform,
    talon_one_platform,
)
from loyalty_bridge.wiring.profile import (
    admin_errors,
    loyalty_reach,
    mailchimp_credentials,
    mailchimp_http,
    mailing_list,
    profile_sync,
    program_admin,
    sms_optouts,
    storefront_program,
)
from loyalty_bridge.wiring.program import (
    ledger_program,
    program_seed,
    program_source,
    program_store,
)

__all__ = [
    "QUEUE_NAMES",
    "adjustment_service",
    "admin_errors",
    "attach_service",
    "aws_client",
    "balance_recorder",
    "balance_snapshots",
    "balance_source",
    "cached",
    "card_lifecycle",
    "card_stock",
    "checkout_service",
    "checkout_store",
    "code_book",
    "customer_data",
    "customer_eraser",
    "customer_exporter",
    "customers",
    "enrolment_service",
    "error_store",
    "failure_policy",
    "history_service",
    "idempotency_store",
    "incident_reporter",
    "ledger",
    "ledger_program",
    "loyalty_reach",
    "mailchimp_credentials",
    "mailchimp_http",
    "mailer",
    "mailing_list",
    "member_import",
    "metrics",
    "order_service",
    "phone_service",
    "platform",
    "platform_http",
    "prefill_service",
    "profile_sync",
    "profile_updates",
    "program_admin",
    "program_seed",
    "program_source",
    "program_store",
    "queue",
    "reset",
    "rest_platform",
    "rewards_service",
    "secrets",
    "settings",
    "signing_keys",
    "signup_service",
    "sms_optouts",
    "sms_sender",
    "stats_service",
    "store_directory",
    "store_registry",
    "storefront_program",
    "summary_service",
    "sync_state",
    "talon_one_platform",
    "verification_pepper",
    "verification_store",
]

"""Typed settings read from the environment (set by template.yaml, or by the local stack).

Every Lambda reads the same names; a function only touches the settings it uses, and
each value is parsed once per warm container.
"""

from __future__ import annotations

import os
from decimal import Decimal
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    stage: str = "local"
    region: str = "us-east-1"
    # Optional override of every AWS endpoint (the local stack points it at moto).
    aws_endpoint_url: str | None = None

    # Tables
    bridge_table: str = "loyalty-bridge"
    ledger_table: str = "loyalty-ledger"
    idempotency_table: str = "loyalty-idempotency"
    errors_table: str = "loyalty-errors"

    # Queues
    membership_queue_url: str = ""
    profile_sync_queue_url: str = ""
    order_queue_url: str = ""
    # Member import through the bucket (issue 18): the bucket files are put in, the queue that
    # hands each chunk on, and how much one invocation reads (services/bucket_import.py).
    member_import_bucket: str = ""
    member_import_queue_url: str = ""
    member_import_chunk_lines: int = 500
    member_import_chunk_bytes: int = 1024 * 1024
    member_import_max_line_bytes: int = 16 * 1024

    # Behaviour
    auto_join: bool = True
    notify_admins: bool = True
    admin_emails: tuple[str, ...] = ()
    sender_email: str = "loyalty-bridge@example.com"
    platform_adapter: Literal["ledger", "rest", "talon_one"] = "ledger"
    # PlatformAdapter=talon_one (adapters/talon_one_platform.py); its API key is the
    # platform secret's "api_key" (platform_secret_arn).
    talon_one_base_url: str = ""
    talon_one_application_id: str = ""
    talon_one_loyalty_program_id: int = 0
    talon_one_referral_campaign_id: int = 0  # R5: the referral campaign (0: no referral codes)
    platform_base_url: str = ""
    platform_secret_arn: str = ""
    # REST platform client (adapters/rest_platform.py). Worst case per call stays well under
    # API Gateway's 30 s: attempts x (connect + read) + backoff.
    platform_connect_timeout_seconds: float = 1.5
    platform_read_timeout_seconds: float = 4.0
    platform_max_attempts: int = 3
    platform_backoff_base_seconds: float = 0.2
    platform_backoff_max_seconds: float = 2.0
    platform_retry_after_max_seconds: float = 5.0  # a longer Retry-After fails fast instead
    # No retry starts past this (per call, all attempts): API functions time out at 10 s.
    platform_call_budget_seconds: float = 8.0
    platform_max_connections: int = 10
    mailchimp_secret_arn: str = ""
    mailchimp_base_url: str = ""
    mailchimp_list_id: str = ""
    mailchimp_merge_tag: str = "LOYALTY"  # P4: the audience merge field flagging loyalty members
    # A queue message is tried this often before it is recorded as an incident (the
    # template's maxReceiveCount; the DLQ gets only what crashed past it).
    queue_max_receives: int = 5
    sms_adapter: Literal["sns", "capture"] = "sns"
    # sms_adapter="capture": one JSON file per SMS in this folder (local stack).
    sms_capture_dir: str = ".local/sms"
    signing_secret_prefix: str = "loyalty-bridge/keys/"  # noqa: S105 - a name prefix, not a secret
    # Secret holding the pepper that one-time codes are hashed with (A4, A7): {"pepper": "..."}.
    verification_secret_arn: str = ""
    verification_code_ttl_seconds: int = 600  # one-time codes expire after 10 minutes (A4, A7)
    signing_window_seconds: int = 300
    idempotency_ttl_seconds: int = 24 * 3600 + 3600

    # Program (built-in ledger)
    point_value: Decimal = Decimal("0.01")
    max_redeem_share: Decimal = Decimal("0.5")
    hold_minutes: int = 30
    # POST /v1/orders (and refunds) wait this long for the platform before answering 202 and
    # settling from the OrderQueue (C4: points at once when the platform is quick).
    order_sync_deadline_seconds: float = 3.0
    pending_days: int = 0
    earn_rules_json: str = ""
    # R5: the shareable referral link; "{code}" is replaced by the member's code, otherwise
    # "ref=<code>" is added to the query. Empty: the summary shows the code without a link.
    referral_base_url: str = ""

    @field_validator("admin_emails", mode="before")
    @classmethod
    def _split_emails(cls, value: object) -> object:
        return _csv(value) if isinstance(value, str) else value

    @field_validator("aws_endpoint_url", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return value or None


# Environment variable for each field: the upper-cased field name, e.g. BRIDGE_TABLE.
_ENV_NAMES = {name: name.upper() for name in Settings.model_fields}
_ENV_NAMES["region"] = "AWS_REGION"
_ENV_NAMES["aws_endpoint_url"] = "AWS_ENDPOINT_URL"


def settings_from_env(environ: dict[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    values = {field: env[name] for field, name in _ENV_NAMES.items() if name in env}
    return Settings.model_validate(values)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return settings_from_env()

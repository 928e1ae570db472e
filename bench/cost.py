"""Cost per 1 million orders on AWS, from what the bench measured per order.

PRICES are the public on-demand list prices for us-east-1 (N. Virginia) as published on
the linked AWS pricing pages in 2025 (DynamoDB after its November 2024 on-demand price
cut). Free tiers are ignored (they vanish at scale). Check the pages before quoting a
figure, and change a price here, in one place, when it moves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

REGION = "us-east-1"
PRICES_AS_OF = "2025 list prices (DynamoDB on-demand after the 2024-11-01 cut)"
PRICES = {
    # https://aws.amazon.com/lambda/pricing/ (Arm, first 7.5 billion GB-s per month)
    "lambda_arm64_gb_second": 0.0000133334,
    "lambda_request": 0.20 / 1_000_000,
    # https://aws.amazon.com/api-gateway/pricing/ (HTTP API, first 300 million, per 512 KB)
    "http_api_request": 1.00 / 1_000_000,
    # https://aws.amazon.com/sqs/pricing/ (per 64 KB chunk; after the free first million)
    "sqs_standard_request": 0.40 / 1_000_000,
    "sqs_fifo_request": 0.50 / 1_000_000,
    # https://aws.amazon.com/dynamodb/pricing/on-demand/ (after the November 2024 price cut)
    "dynamodb_write_request_unit": 0.625 / 1_000_000,
    "dynamodb_read_request_unit": 0.125 / 1_000_000,
    # https://aws.amazon.com/ses/pricing/ (outbound email)
    "ses_email": 0.10 / 1_000,
    # https://aws.amazon.com/secrets-manager/pricing/ (API calls; secrets are cached while warm)
    "secretsmanager_api_call": 0.05 / 10_000,
}


@dataclass
class PerOrder:
    """What one order costs in billable units (averages over the measured orders)."""

    lambda_invocations: dict[str, float] = field(default_factory=dict)  # function -> invocations
    lambda_billed_ms: dict[str, float] = field(default_factory=dict)  # function -> mean billed ms
    lambda_memory_mb: dict[str, int] = field(default_factory=dict)
    http_api_requests: float = 1.0
    sqs_standard_requests: float = 0.0
    sqs_fifo_requests: float = 0.0
    dynamodb_rru: float = 0.0
    dynamodb_wru: float = 0.0
    ses_emails: float = 0.0
    secretsmanager_calls: float = 0.0


def billed_ms(duration_ms: float) -> int:
    """Lambda bills duration rounded up to the next millisecond."""
    return max(1, math.ceil(duration_ms))


def per_million(order: PerOrder) -> dict[str, float]:
    """Dollars per 1,000,000 orders, per service and in total."""
    n = 1_000_000
    gb_seconds = sum(
        order.lambda_invocations[fn]
        * order.lambda_billed_ms.get(fn, 0.0)
        / 1000.0
        * order.lambda_memory_mb.get(fn, 512)
        / 1024.0
        for fn in order.lambda_invocations
    )
    invocations = sum(order.lambda_invocations.values())
    lines = {
        "lambda_compute": n * gb_seconds * PRICES["lambda_arm64_gb_second"],
        "lambda_requests": n * invocations * PRICES["lambda_request"],
        "http_api": n * order.http_api_requests * PRICES["http_api_request"],
        "sqs": n
        * (
            order.sqs_standard_requests * PRICES["sqs_standard_request"]
            + order.sqs_fifo_requests * PRICES["sqs_fifo_request"]
        ),
        "dynamodb": n
        * (
            order.dynamodb_wru * PRICES["dynamodb_write_request_unit"]
            + order.dynamodb_rru * PRICES["dynamodb_read_request_unit"]
        ),
        "ses": n * order.ses_emails * PRICES["ses_email"],
        "secrets_manager": n * order.secretsmanager_calls * PRICES["secretsmanager_api_call"],
    }
    lines = {k: round(v, 2) for k, v in lines.items()}
    lines["total"] = round(sum(lines.values()), 2)
    return lines

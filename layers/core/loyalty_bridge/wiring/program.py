"""The program in force (R9): the EarnRulesJson seed, the versions store, the cached ProgramSource."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from loyalty_bridge.wiring.core import aws_client, cached, settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from loyalty_bridge.adapters.program_store import DynamoProgramStore
    from loyalty_bridge.ports import ProgramSource
    from loyalty_bridge.program.earn_rules import ProgramRules


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
    """The program in force, through Powertools Parameters (PartitionParameters over the
    function's DynamoDB client) cached for PROGRAM_MAX_AGE_SECONDS per warm container: what
    the ledger and storefront read."""
    from loyalty_bridge.adapters.program_store import ParameterProgramSource, PartitionParameters

    provider = PartitionParameters(cast("DynamoDBClient", aws_client("dynamodb")), settings().bridge_table)
    return ParameterProgramSource(provider, program_seed())


def ledger_program() -> ProgramSource | None:
    """The program the bridge's own ledger prices with (R10 currency checks); None when
    another platform's program prices the points."""
    return program_source() if settings().platform_adapter == "ledger" else None

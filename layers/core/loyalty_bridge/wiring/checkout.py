"""Checkout and orders (C1-C6), stores and staff (R6), adjustments, history, statistics."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from loyalty_bridge.wiring.core import aws_client, cached, incident_reporter, metrics, queue, settings
from loyalty_bridge.wiring.membership import balance_recorder, customers
from loyalty_bridge.wiring.platforms import platform
from loyalty_bridge.wiring.program import ledger_program

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from loyalty_bridge.adapters.checkout_store import DynamoCheckoutStore
    from loyalty_bridge.adapters.stores import DynamoStoreRegistry
    from loyalty_bridge.services.adjustments import AdjustmentService
    from loyalty_bridge.services.checkout import CheckoutService
    from loyalty_bridge.services.history import HistoryService, StatsService
    from loyalty_bridge.services.orders import OrderService
    from loyalty_bridge.services.stores import StoreDirectory


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


@cached
def store_registry() -> DynamoStoreRegistry:
    from loyalty_bridge.adapters.stores import DynamoStoreRegistry

    return DynamoStoreRegistry(cast("DynamoDBClient", aws_client("dynamodb")), settings().bridge_table)


@cached
def store_directory() -> StoreDirectory:
    """Stores and staff users; ``check`` is what orders, quotes and adjustments call."""
    from loyalty_bridge.services.stores import StoreDirectory

    return StoreDirectory(store_registry())


@cached
def adjustment_service() -> AdjustmentService:
    from loyalty_bridge.services.adjustments import AdjustmentService

    return AdjustmentService(
        customers(), platform(), store_directory(), metrics(), balances=balance_recorder()
    )


@cached
def history_service() -> HistoryService:
    from loyalty_bridge.services.history import HistoryService

    return HistoryService(customers(), platform())


@cached
def stats_service() -> StatsService:
    from loyalty_bridge.services.history import StatsService

    return StatsService(platform())

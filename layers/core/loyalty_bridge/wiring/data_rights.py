"""The customer's data rights (D1 export, D2 erasure): the admin routes' services."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from loyalty_bridge.wiring.checkout import checkout_store, history_service
from loyalty_bridge.wiring.core import aws_client, cached, error_store, mailer, settings
from loyalty_bridge.wiring.membership import customers
from loyalty_bridge.wiring.platforms import platform
from loyalty_bridge.wiring.profile import mailing_list

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from loyalty_bridge.adapters.customer_data import DynamoCustomerData
    from loyalty_bridge.services.data_rights import CustomerExporter
    from loyalty_bridge.services.erasure import CustomerEraser


@cached
def customer_data() -> DynamoCustomerData:
    from loyalty_bridge.adapters.customer_data import DynamoCustomerData

    current = settings()
    return DynamoCustomerData(
        cast("DynamoDBClient", aws_client("dynamodb")), current.bridge_table, current.idempotency_table
    )


@cached
def customer_exporter() -> CustomerExporter:
    from loyalty_bridge.services.data_rights import CustomerExporter

    return CustomerExporter(
        customers(), platform(), history_service(), checkout_store(), customer_data(), error_store()
    )


@cached
def customer_eraser() -> CustomerEraser:
    from loyalty_bridge.services.erasure import CustomerEraser

    current = settings()
    return CustomerEraser(
        customers(),
        platform(),
        history_service(),
        customer_data(),
        error_store(),
        mailer(),
        admin_emails=current.admin_emails if current.notify_admins else (),
        mailing_list=mailing_list(),
    )

"""Profile API (P1, P3): profile changes and opt-ins. The web change is saved at once and
answered 202; the platform, Mailchimp and the SMS opt-out list are updated in the background,
in the customer's order (services/profile_updates.py, then services/profile_sync.py)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from loyalty_bridge import wiring
from loyalty_bridge.handler_services import HandlerServices, Wired
from loyalty_bridge.http_api import make_resolver
from loyalty_bridge.models.api_membership import CustomerId
from loyalty_bridge.models.api_profile import SetConsents, SyncAccepted, UpdateProfile
from loyalty_bridge.models.domain import Consents
from loyalty_bridge.observability import logger, metrics

app = make_resolver()


class Services(HandlerServices):
    """The services the routes call: from wiring unless a test hands in fake-backed ones."""

    profile_updates = Wired(wiring.profile_updates)


services = Services()

CUSTOMER = "/v1/customers/<customer_id>"


_ACCEPTED: dict[int, Any] = {
    202: {
        "description": "Saved; the sync to the platform and Mailchimp is queued",
        "content": {"application/json": {"model": SyncAccepted}},
    }
}


def _accepted(sync: str, version: int) -> Response[SyncAccepted]:
    body = SyncAccepted.model_validate({"sync": sync, "version": version})
    return Response(status_code=202, content_type="application/json", body=body)


@app.patch(CUSTOMER, responses=_ACCEPTED)
def update_profile(
    customer_id: Annotated[CustomerId, Path()], body: Annotated[UpdateProfile, Body()]
) -> Response[SyncAccepted]:
    result = services.profile_updates.update_profile(customer_id, body.as_fields())
    return _accepted(result.sync, result.version)


@app.put(f"{CUSTOMER}/consents", responses=_ACCEPTED)
def set_consents(
    customer_id: Annotated[CustomerId, Path()], body: Annotated[SetConsents, Body()]
) -> Response[SyncAccepted]:
    result = services.profile_updates.set_consents(customer_id, Consents(email=body.email, sms=body.sms))
    return _accepted(result.sync, result.version)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)

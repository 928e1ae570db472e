"""Mailchimp audience webhook (P5): ``POST /v1/webhooks/mailchimp?secret=...`` with Mailchimp's
form-encoded events; ``GET`` answers Mailchimp's check when the webhook is created.

Mailchimp cannot sign requests: the secret in the URL (the Mailchimp secret's
``webhook_secret``) is compared in constant time. The customers an event is about are
found through the email index (every web account with that email, synced before or not).
An unsubscribe or cleaned address turns their email consent off, through the same ordered
sync as a web change; an ``upemail`` notes the address Mailchimp now files them under.
Other event types (``profile``: the web account is the master) are answered 200 and logged
(Mailchimp retries anything else).
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from loyalty_bridge import errors, wiring
from loyalty_bridge.handler_services import HandlerServices, Wired
from loyalty_bridge.http_api import make_resolver
from loyalty_bridge.models.api_profile import MailchimpWebhook, WebhookAnswer
from loyalty_bridge.observability import logger, metrics

app = make_resolver(signed=False, idempotent_writes=False)


class Services(HandlerServices):
    """What the routes call: from wiring unless a test hands in fake-backed ones."""

    profile_updates = Wired(wiring.profile_updates)
    credentials = Wired(wiring.mailchimp_credentials)  # the webhook_secret
    settings = Wired(wiring.settings)  # the audience (mailchimp_list_id)


services = Services()

PATH = "/v1/webhooks/mailchimp"
Secret = Annotated[str, Query(max_length=256)]
# Unsigned route: the only authentication is the URL secret, answered 401 when wrong.
WRONG_SECRET: dict[int, Any] = {
    401: {
        "description": "The webhook secret is missing or wrong.",
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
}


def _check_secret(secret: str) -> None:
    expected = services.credentials.webhook_secret
    if not expected or not hmac.compare_digest(secret.encode(), expected.encode()):
        logger.info("mailchimp webhook with a wrong secret")
        raise errors.Unauthorized("The webhook secret is missing or wrong.")


@app.get(PATH, responses=WRONG_SECRET)
def verify(secret: Secret = "") -> WebhookAnswer:
    _check_secret(secret)
    return WebhookAnswer(result="ignored")


@app.post(PATH, responses=WRONG_SECRET)
def receive(secret: Secret = "") -> WebhookAnswer:
    _check_secret(secret)
    try:
        form = parse_qs(app.current_event.decoded_body or "", keep_blank_values=True, max_num_fields=200)
        event = MailchimpWebhook.from_form(form)
    except ValidationError as exc:
        fields = [{"field": ".".join(map(str, e["loc"])), "message": e["msg"]} for e in exc.errors()]
        raise errors.InvalidInput("The webhook body is not a Mailchimp event.", errors=fields) from None
    except ValueError:
        raise errors.InvalidInput("The webhook body is not form-encoded.") from None
    list_id = services.settings.mailchimp_list_id
    result = services.profile_updates.apply_mailchimp_event(event, list_id=list_id)
    return WebhookAnswer.model_validate({"result": result})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)

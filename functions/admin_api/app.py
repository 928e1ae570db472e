"""Admin API (admin-scoped keys): list the failures that need a human, newest first and
paged (contact data masked), read one in full to fix it by hand, replay one after a manual
fix (P2), or close one fixed by hand."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from loyalty_bridge import wiring
from loyalty_bridge.handler_services import HandlerServices, Wired
from loyalty_bridge.http_api import current_key_id, make_resolver
from loyalty_bridge.models.api_admin import (
    CategoryName,
    ErrorDetail,
    ErrorPage,
    ReplayAccepted,
    ResolvedError,
    ResolveError,
    StatusName,
)
from loyalty_bridge.observability import logger, metrics, tracer
from loyalty_bridge.services.admin import error_detail, error_view

app = make_resolver(scope="admin")


class Services(HandlerServices):
    """The services the routes call: from wiring unless a test hands in fake-backed ones."""

    admin_errors = Wired(wiring.admin_errors)


services = Services()

ErrorId = Annotated[str, Path(min_length=1, max_length=400)]


@app.get("/v1/admin/errors")
def list_errors(
    category: Annotated[CategoryName | None, Query()] = None,
    status: Annotated[StatusName | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
) -> ErrorPage:
    records, next_cursor = services.admin_errors.list(
        category=category, status=status, limit=limit, cursor=cursor or None
    )
    return ErrorPage(errors=[error_view(record) for record in records], next_cursor=next_cursor)


@app.get("/v1/admin/errors/<error_id>")
def get_error(error_id: ErrorId) -> ErrorDetail:
    record = services.admin_errors.get(unquote(error_id))
    # An audit line with ids only: what was read (personal data) never goes to the logs.
    logger.info(
        "error read in full by an admin", extra={"error_id": record.error_id, "key_id": current_key_id(app)}
    )
    return error_detail(record)


@app.post("/v1/admin/errors/<error_id>/replay")
def replay_error(error_id: ErrorId) -> Response[ReplayAccepted]:
    record, queue = services.admin_errors.replay(unquote(error_id))
    body = ReplayAccepted(error_id=record.error_id, status=record.status, queue=queue)
    return Response(status_code=202, content_type="application/json", body=body)


@app.post("/v1/admin/errors/<error_id>/resolve")
def resolve_error(error_id: ErrorId, body: Annotated[ResolveError, Body()]) -> ResolvedError:
    record = services.admin_errors.resolve(unquote(error_id), note=body.note)
    return ResolvedError(error_id=record.error_id, status=record.status)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler(capture_response=False)  # a single read carries personal data
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)

"""GET /v1/health: unsigned liveness. Calls no AWS service, so it answers even when they fail."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from loyalty_bridge import __version__
from loyalty_bridge.http_api import make_resolver
from loyalty_bridge.observability import logger
from loyalty_bridge.settings import get_settings

app = make_resolver(signed=False, idempotent_writes=False)


@app.get("/v1/health")
def health() -> dict[str, str]:
    return {"status": "ok", "version": __version__, "stage": get_settings().stage}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)

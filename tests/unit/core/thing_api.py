"""A tiny signed API over make_resolver() and in-memory fakes, for the core unit tests."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import BaseModel, Field

from loyalty_bridge import errors
from loyalty_bridge.http_api import BridgeResolver, current_idempotency_key, current_key_id, make_resolver
from loyalty_bridge.signing import StaticSigningKeys
from tests.fake_core import InMemoryIdempotencyStore

STOREFRONT = ("shop-1", "storefront-secret-0123456789")
OTHER_STOREFRONT = ("shop-2", "other-secret-0123456789")
ADMIN = ("ops-1", "admin-secret-0123456789")


def signing_keys() -> StaticSigningKeys:
    return StaticSigningKeys(
        {
            STOREFRONT[0]: (STOREFRONT[1], "storefront"),
            OTHER_STOREFRONT[0]: (OTHER_STOREFRONT[1], "storefront"),
            ADMIN[0]: (ADMIN[1], "admin"),
        }
    )


class NewThing(BaseModel):
    name: str = Field(min_length=1)
    size: int = Field(ge=0)
    note: str | None = None


class ThingApi:
    """A tiny API over make_resolver(): records what its routes saw."""

    def __init__(self, app: BridgeResolver) -> None:
        self.app = app
        self.created: list[dict[str, Any]] = []
        self.flaky_failures = 0

        @app.post("/v1/things")
        def create(body: Annotated[NewThing, Body()]) -> Response[dict[str, Any]]:
            self.created.append(body.model_dump())
            thing = {"id": f"t-{len(self.created)}", **body.model_dump(), "by": current_key_id(app)}
            return Response(201, "application/json", thing, headers={"Location": f"/v1/things/{thing['id']}"})

        @app.get("/v1/things/<thing_id>")
        def read(thing_id: str) -> dict[str, Any]:
            if thing_id == "missing":
                raise errors.NotFound("No such thing.", code="thing_not_found")
            return {"id": thing_id, "by": current_key_id(app)}

        @app.post("/v1/things/flaky")
        def flaky() -> dict[str, Any]:
            if self.flaky_failures > 0:
                self.flaky_failures -= 1
                raise errors.Retryable("downstream timed out")
            self.created.append({"flaky": True})
            return {"ok": True, "idempotency_key": current_idempotency_key(app)}

        @app.post("/v1/things/conflict")
        def conflict() -> dict[str, Any]:
            raise errors.Conflict("Changed by another request; try again.", code="version_conflict")

        @app.post("/v1/things/crash")
        def crash() -> dict[str, Any]:
            raise RuntimeError("secret internals: customer c-42 email a@b.c")


def build_api(store: InMemoryIdempotencyStore, **options: Any) -> ThingApi:
    app = make_resolver(**options)
    app.signing_keys = signing_keys()
    app.idempotency_store = store
    return ThingApi(app)

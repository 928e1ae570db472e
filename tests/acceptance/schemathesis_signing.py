"""schemathesis hooks (loaded by ``SCHEMATHESIS_HOOKS``): requests signed as a storefront
or an admin signs them (API.md "Transport").

The auth provider puts the three signature headers on every case, so schemathesis knows
the credentials are explicit (its ``ignored_auth`` probes then remove or spoil them); the
requests auth added before each call signs the exact bytes and raw path about to be sent.
A request that lacks one of the headers (a probe, a "missing header" case) is sent as it
is, unsigned, and must be refused.

Keys come from the environment: BRIDGE_SIGNING_KEY_ID / _SECRET (storefront) and
BRIDGE_ADMIN_KEY_ID / _SECRET (admin routes, under /v1/admin).
"""

from __future__ import annotations

import os
from typing import Any

import requests
import schemathesis

from loyalty_bridge import signing

ADMIN_PREFIX = "/v1/admin"
PENDING = "to-be-signed"


def _key_for(path: str) -> tuple[str, str]:
    prefix = "BRIDGE_ADMIN_KEY" if path.startswith(ADMIN_PREFIX) else "BRIDGE_SIGNING_KEY"
    return os.environ[f"{prefix}_ID"], os.environ[f"{prefix}_SECRET"]


class BridgeSignature(requests.auth.AuthBase):
    """HMAC over timestamp, method, raw path with query and body hash, at send time."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        names = (signing.KEY_ID_HEADER, signing.TIMESTAMP_HEADER, signing.SIGNATURE_HEADER)
        if not all(name in request.headers for name in names):
            return request  # deliberately unsigned: leave it so
        body: Any = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        key_id, secret = _key_for(request.path_url)
        request.headers.update(
            signing.signed_headers(key_id, secret, str(request.method), request.path_url, body)
        )
        return request


@schemathesis.auth()
class BridgeKeys:
    def get(self, case: Any, ctx: Any) -> str:
        return PENDING

    def set(self, case: Any, data: str, ctx: Any) -> None:
        key_id, _ = _key_for(case.path)
        case.headers = {
            **(case.headers or {}),
            signing.KEY_ID_HEADER: key_id,
            signing.TIMESTAMP_HEADER: "0",
            signing.SIGNATURE_HEADER: data,
        }


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    kwargs["auth"] = BridgeSignature()


@schemathesis.check
def schema_valid_request_passes_field_validation(ctx: Any, response: Any, case: Any) -> bool | None:
    """A request openapi.yaml calls valid never gets 422 ``validation_failed``: the server's
    field validation and the published schema say the same (business refusals such as a
    wrong code keep their own codes)."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 422:
        return None
    try:
        code = response.json().get("code")
    except ValueError:
        code = None
    if code == "validation_failed":
        raise AssertionError(f"schema-valid request refused by field validation: {response.text[:500]}")
    return None

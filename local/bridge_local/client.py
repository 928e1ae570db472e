"""Signed requests without writing signing code (API.md "Transport").

Command line (``bridge-call`` / ``make call``)::

    bridge-call GET /v1/health
    bridge-call POST /v1/customers '{"customer_id": "c-1", "email": "ann@example.com", ...}'
    bridge-call POST /v1/customers @signup.json
    bridge-call --admin GET '/v1/admin/errors?status=open'

Python (tests, scripts)::

    with SignedClient("http://127.0.0.1:3000", key_id="local", secret="...") as api:
        api.post("/v1/customers", json={...})
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from typing import Any

import httpx

from loyalty_bridge.signing import signed_headers

DEFAULT_BASE_URL = "http://127.0.0.1:3000"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _dumps(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class SignedClient:
    """httpx client that signs every request with API.md's scheme and adds an
    Idempotency-Key to writes (unless given, or ``idempotency_key=False``)."""

    def __init__(
        self,
        base_url: str,
        *,
        key_id: str | None,
        secret: str | None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.key_id = key_id
        self.secret = secret
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SignedClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        idempotency_key: str | bool | None = None,
        sign: bool = True,
    ) -> httpx.Response:
        """``path`` is sent exactly as given (raw path plus ``?query``) and that exact text
        is signed, together with the exact body bytes."""
        method = method.upper()
        body: bytes = b""
        all_headers: dict[str, str] = {}
        if json is not None:
            body = _dumps(json)
            all_headers["content-type"] = "application/json"
        elif content is not None:
            body = content.encode("utf-8") if isinstance(content, str) else content
            all_headers["content-type"] = "application/json"
        if method in WRITE_METHODS and idempotency_key is not False:
            all_headers["idempotency-key"] = (
                idempotency_key if isinstance(idempotency_key, str) else str(uuid.uuid4())
            )
        if sign and self.key_id and self.secret:
            all_headers.update(signed_headers(self.key_id, self.secret, method, path, body))
        all_headers.update(headers or {})
        request = self._http.build_request(method, path, content=body or None, headers=all_headers)
        # httpx normalises the URL; make sure the path on the wire is the one we signed.
        request.url = request.url.copy_with(raw_path=path.encode("ascii"))
        return self._http.send(request)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)


def local_client(base_url: str | None = None, *, admin: bool = False, timeout: float = 30.0) -> SignedClient:
    """A client with the local stack's key (``local`` / ``local-admin``, secrets from the
    same environment variables and defaults the stack uses)."""
    from bridge_local.resources import DEV_ADMIN_SECRET, DEV_SECRET

    if admin:
        key_id = os.environ.get("BRIDGE_ADMIN_KEY_ID", "local-admin")
        secret = os.environ.get("BRIDGE_LOCAL_ADMIN_SECRET") or DEV_ADMIN_SECRET
    else:
        key_id = os.environ.get("BRIDGE_KEY_ID", "local")
        secret = os.environ.get("BRIDGE_LOCAL_SECRET") or DEV_SECRET
    return SignedClient(
        base_url or os.environ.get("BRIDGE_URL", DEFAULT_BASE_URL),
        key_id=key_id,
        secret=secret,
        timeout=timeout,
    )


def _read_body(argument: str | None) -> bytes | None:
    if argument is None:
        return None
    if argument == "-":
        return sys.stdin.buffer.read()
    if argument.startswith("@"):
        with open(argument[1:], "rb") as handle:
            return handle.read()
    return argument.encode("utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bridge-call", description="Send one signed request to the bridge API."
    )
    parser.add_argument("method", help="GET, POST, PUT, PATCH, DELETE")
    parser.add_argument("path", help="raw path with query, e.g. /v1/customers/c-1/loyalty")
    parser.add_argument("body", nargs="?", help="JSON text, @file, or - for stdin")
    parser.add_argument("--url", default=os.environ.get("BRIDGE_URL", DEFAULT_BASE_URL), help="base URL")
    parser.add_argument("--admin", action="store_true", help="sign with the admin key (local-admin)")
    parser.add_argument("--key-id", help="key id (default: local, or local-admin with --admin)")
    parser.add_argument("--secret", help="signing secret (default: BRIDGE_LOCAL_SECRET or the local default)")
    parser.add_argument("--idempotency-key", help="Idempotency-Key for writes (default: a new UUID)")
    parser.add_argument("--unsigned", action="store_true", help="send without signature headers")
    parser.add_argument("-i", "--include", action="store_true", help="print the response headers")
    args = parser.parse_args(argv)

    client = local_client(args.url, admin=args.admin)
    if args.key_id:
        client.key_id = args.key_id
    if args.secret:
        client.secret = args.secret
    body = _read_body(args.body)
    if body is not None:
        try:
            json.loads(body)
        except ValueError:
            print("warning: the body is not valid JSON (sent as is)", file=sys.stderr)
    try:
        with client:
            response = client.request(
                args.method,
                args.path,
                content=body,
                idempotency_key=args.idempotency_key,
                sign=not args.unsigned,
            )
    except httpx.HTTPError as exc:
        print(f"error: {exc} (is the local stack running? make run)", file=sys.stderr)
        return 2
    print(f"HTTP {response.status_code}", file=sys.stderr)
    if args.include:
        for name, value in response.headers.items():
            print(f"{name}: {value}", file=sys.stderr)
    try:
        print(json.dumps(response.json(), indent=2, ensure_ascii=False))
    except ValueError:
        print(response.text)
    return 0 if response.status_code < 400 else 1


if __name__ == "__main__":
    raise SystemExit(main())

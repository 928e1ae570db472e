"""A moto DynamoDB server for the ledger tests, and LedgerTable created from template.yaml.

moto applies a TransactWriteItems item by item and rolls back by restoring a snapshot of
the whole table, so two concurrent transactions can interleave or undo each other. Real
DynamoDB transactions are atomic and isolated; to test our code rather than moto's
threading, this server handles one request at a time (clients still run concurrently).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

import boto3
from botocore.config import Config
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from tests.ops.cfn import resources

REGION = "us-east-1"


class _OneRequestAtATime:
    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self._lock:
            return list(self._app(environ, start_response))


@cache
def serialized_moto_endpoint() -> str:
    """Start (once per test session) a loopback moto server; its endpoint URL."""
    app = _OneRequestAtATime(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
    threading.Thread(target=server.serve_forever, name="moto-ledger", daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}"


def dynamodb_client(endpoint: str) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "max_attempts": 3}, max_pool_connections=50),
    )


def ledger_table_definition() -> dict[str, Any]:
    """LedgerTable's CreateTable arguments, read from template.yaml (so tests use its keys)."""
    props = resources()["LedgerTable"]["Properties"]
    keep = ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode")
    return {name: props[name] for name in keep if name in props}


def create_ledger_table(client: Any, name: str | None = None) -> str:
    table = name or f"ledger-{uuid.uuid4().hex[:12]}"
    client.create_table(TableName=table, **ledger_table_definition())
    return table

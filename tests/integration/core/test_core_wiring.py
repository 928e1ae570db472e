"""wiring + http_api + authorizer on template.yaml's own resources in moto (the ``aws`` fixture)."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import pytest

from loyalty_bridge import wiring
from loyalty_bridge.adapters.sqs import SqsQueue
from loyalty_bridge.http_api import current_key_id, make_resolver
from tests.lambda_harness import FakeLambdaContext, authorizer_event, load_function, signed_http_event

if TYPE_CHECKING:
    from bridge_local.resources import Provisioned

pytestmark = pytest.mark.integration


def _key(provisioned: Provisioned, scope: str) -> tuple[str, str]:
    key = next(k for k in provisioned.signing_keys if k.scope == scope)
    return key.key_id, key.secret


def test_queues_come_from_settings(aws: Provisioned) -> None:
    for name in wiring.QUEUE_NAMES:
        queue = wiring.queue(name)
        assert isinstance(queue, SqsQueue)
        assert queue.queue_url == getattr(wiring.settings(), f"{name}_queue_url")
    assert wiring.queue("profile_sync").fifo
    assert not wiring.queue("membership").fifo
    wiring.queue("profile_sync").send('{"v":1}', group_id="c-1", dedup_id="m-1")
    sqs = aws.client("sqs")
    received = sqs.receive_message(QueueUrl=wiring.settings().profile_sync_queue_url, WaitTimeSeconds=0)
    assert [m["Body"] for m in received["Messages"]] == ['{"v":1}']
    with pytest.raises(ValueError, match="unknown queue"):
        wiring.queue("orders")


def test_mail_and_queue_clients_are_made_when_first_called_not_when_wired(
    aws: Provisioned, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[str] = []
    real = wiring.aws_client

    def counting(service: str) -> Any:
        made.append(service)
        return real(service)

    monkeypatch.setattr("loyalty_bridge.wiring.core.aws_client", counting)
    wiring.queue("membership")
    wiring.incident_reporter()  # the error store's DynamoDB client, and a mailer
    assert "ses" not in made
    assert "sqs" not in made

    wiring.queue("membership").send('{"v":1}')
    aws.client("ses").verify_email_identity(EmailAddress="admin@example.com")
    message_id = wiring.mailer().send(to=["admin@example.com"], subject="s", text="t")

    assert {"sqs", "ses"} <= set(made)
    assert message_id
    assert repr(wiring.core.lazy_client("ses")) == "lazy_client('ses')"


def test_signing_keys_resolve_from_secrets_manager(aws: Provisioned) -> None:
    storefront_id, storefront_secret = _key(aws, "storefront")
    admin_id, _ = _key(aws, "admin")
    key = wiring.signing_keys().get(storefront_id)
    assert key is not None
    assert (key.scope, key.secret) == ("storefront", storefront_secret)
    admin = wiring.signing_keys().get(admin_id)
    assert admin is not None
    assert admin.scope == "admin"
    assert wiring.signing_keys().get("no-such-key") is None


def _api() -> tuple[Any, list[dict[str, Any]]]:
    app = make_resolver()  # real key store and DynamoDB idempotency table, from wiring
    created: list[dict[str, Any]] = []

    @app.post("/v1/widgets")
    def create() -> dict[str, Any]:
        created.append(app.current_event.json_body)
        return {"n": len(created), "by": current_key_id(app)}

    return app, created


def test_idempotent_replay_on_the_dynamodb_table(aws: Provisioned) -> None:
    app, created = _api()
    key_id, secret = _key(aws, "storefront")

    def post(body: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        event = signed_http_event(
            "POST", "/v1/widgets", key_id=key_id, secret=secret, body=body, idempotency_key=idempotency_key
        )
        return app.resolve(event, FakeLambdaContext())  # type: ignore[no-any-return]

    first = post({"size": 1}, "widget-1")
    assert first["statusCode"] == 200
    assert json.loads(first["body"]) == {"n": 1, "by": key_id}
    assert post({"size": 1}, "widget-1") == first
    reused = post({"size": 2}, "widget-1")
    assert reused["statusCode"] == 409
    assert json.loads(reused["body"])["code"] == "idempotency_key_reused"
    assert created == [{"size": 1}]

    items = aws.client("dynamodb").scan(TableName=wiring.settings().idempotency_table)["Items"]
    assert len(items) == 1
    assert int(items[0]["expiration"]["N"]) >= time.time() + 24 * 3600 - 60


def test_authorizer_handler_with_real_keys(aws: Provisioned) -> None:
    authorizer = load_function("authorizer")
    storefront_id, _ = _key(aws, "storefront")
    admin_id, _ = _key(aws, "admin")
    now = str(int(time.time()))

    def ask(key_id: str, path: str) -> dict[str, Any]:
        headers = {"x-bridge-key-id": key_id, "x-bridge-timestamp": now, "x-bridge-signature": "0" * 64}
        event = authorizer_event("GET", path, headers=headers)
        return authorizer.lambda_handler(event, FakeLambdaContext())  # type: ignore[no-any-return]

    assert ask(storefront_id, "/v1/admin/errors")["isAuthorized"] is False
    allowed = ask(admin_id, "/v1/admin/errors")
    assert allowed["isAuthorized"] is True
    assert allowed["context"] == {"key_id": admin_id, "scope": "admin", "timestamp_ok": True}
    assert ask(storefront_id, "/v1/customers/c-1/loyalty")["context"]["scope"] == "storefront"

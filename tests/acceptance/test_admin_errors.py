"""Issue 17 item 2 over the local stack: an Account Update Error can be fixed by hand. The
listing and the email show the change masked; the email names the exact admin route that
reads the error in full, and that read (admin keys only) answers the whole before and
after. The full values never reach the logs."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from bridge_local.client import SignedClient
from bridge_local.stack import LocalStackProcess
from tests.conftest import Mailbox

READ_ROUTE = re.compile(r"GET (/v1/admin/errors/\S+)$", re.MULTILINE)


def joined(client: SignedClient, stack: LocalStackProcess, body: dict[str, Any]) -> None:
    created = client.post("/v1/customers", json=body)
    assert created.status_code == 202, created.text
    stack.wait_until_drained()
    assert client.get(f"/v1/customers/{body['customer_id']}/loyalty").json()["status"] == "joined"


def test_an_account_update_error_is_read_in_full_from_the_route_its_email_names(
    local_stack: LocalStackProcess,
    signed_client: SignedClient,
    admin_client: SignedClient,
    mailbox: Mailbox,
    new_customer: Callable[..., dict[str, Any]],
) -> None:
    first, second = new_customer(), new_customer()
    joined(signed_client, local_stack, first)
    joined(signed_client, local_stack, second)
    # The first customer takes the second one's email: the web change stands, the platform refuses.
    changed = signed_client.patch(f"/v1/customers/{first['customer_id']}", json={"email": second["email"]})
    assert changed.status_code == 202, changed.text
    local_stack.wait_until_drained()

    [mail] = mailbox.messages(subject=first["customer_id"])
    text = Mailbox.text(mail)
    assert first["email"] not in text
    assert second["email"] not in text
    routes = set(READ_ROUTE.findall(text))
    assert len(routes) == 1, text
    [route] = routes

    read = admin_client.get(route)
    assert read.status_code == 200, read.text
    error = read.json()
    assert error["customer_id"] == first["customer_id"]
    assert error["category_title"] == "Account Update Errors"
    assert error["change_before"] == {"email": first["email"]}
    assert error["change_after"] == {"email": second["email"]}
    assert error["action"]
    assert f"What to do: {error['action']}" in text
    listed = admin_client.get("/v1/admin/errors?category=account_update&limit=100").json()["errors"]
    [mine] = [e for e in listed if e["error_id"] == error["error_id"]]
    assert mine["change_after"]["email"] != second["email"]
    assert mine["change_after"]["email"].startswith(second["email"][0] + "***@")
    assert mine["action"] == error["action"]

    # Admin scope only; an unknown id is a 404 problem.
    assert signed_client.get(route).status_code == 403
    missing = admin_client.get("/v1/admin/errors/account_update%3Ano-such-error")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert missing.json()["code"] == "error_not_found"

    logged = local_stack.log_path.read_text(errors="replace").lower()
    assert error["error_id"] in logged or json.dumps(error["error_id"])[1:-1] in logged
    for value in (first["email"], second["email"]):
        assert value.lower() not in logged

"""Logs (issue 7): every function logs through the Powertools Logger with its Lambda
context, API functions and the authorizer carry the API Gateway request id as correlation
id, per-record keys never outlive their invocation, and personal data never appears in
clear: real handler paths run with a known email and phone, and the captured log lines
are searched for them."""

from __future__ import annotations

import ast
import json
import uuid
from pathlib import Path

import pytest

from bridge_local.template import load_template
from loyalty_bridge.privacy import pseudonym
from tests.ops.cfn import ROOT

TEMPLATE = load_template(ROOT / "template.yaml")
FUNCTIONS = sorted(TEMPLATE.functions.values(), key=lambda spec: spec.logical_id)
HTTP_FUNCTIONS = {route.function for route in TEMPLATE.routes} | {
    a.function for a in TEMPLATE.authorizers.values()
}


def _handler_decorators(path: Path, handler: str) -> list[ast.expr]:
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == handler:
            return node.decorator_list
    raise AssertionError(f"{path} has no def {handler}")


def _inject_context(decorators: list[ast.expr]) -> ast.expr | None:
    for decorator in decorators:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(target, ast.Attribute) and target.attr == "inject_lambda_context":
            return decorator
    return None


def _keyword(decorator: ast.expr, name: str) -> ast.expr | None:
    if isinstance(decorator, ast.Call):
        return next((kw.value for kw in decorator.keywords if kw.arg == name), None)
    return None


@pytest.mark.parametrize("spec", FUNCTIONS, ids=[spec.logical_id for spec in FUNCTIONS])
def test_every_handler_injects_the_lambda_context(spec):
    decorator = _inject_context(_handler_decorators(spec.module_file, spec.handler_attr))
    assert decorator is not None, f"{spec.logical_id}: @logger.inject_lambda_context missing"
    if spec.logical_id in HTTP_FUNCTIONS:
        path = _keyword(decorator, "correlation_id_path")
        assert path is not None, f"{spec.logical_id}: no correlation_id_path (API Gateway request id)"
        assert ast.unparse(path) == "correlation_paths.API_GATEWAY_HTTP", spec.logical_id


@pytest.mark.parametrize("spec", FUNCTIONS, ids=[spec.logical_id for spec in FUNCTIONS])
def test_per_record_log_keys_are_cleared_between_invocations(spec):
    """``logger.append_keys(message_id=...)`` sticks to the Logger; without clear_state the
    next invocation's lines carry the previous record's ids (wrong correlation)."""
    text = spec.module_file.read_text()
    if "append_keys(" not in text:
        return
    decorator = _inject_context(_handler_decorators(spec.module_file, spec.handler_attr))
    clears = (
        decorator is not None
        and ast.unparse(_keyword(decorator, "clear_state") or ast.Constant(False)) == "True"
    )
    assert clears or "remove_keys(" in text, f"{spec.logical_id}: appended keys are never cleared"


# ---------------------------------------------------------------- personal data, end to end


def _powertools_lines(log: Path) -> list[dict]:
    lines = []
    for raw in log.read_text(errors="replace").splitlines():
        raw = raw.strip()
        if not raw.startswith("{"):
            continue
        try:
            document = json.loads(raw)
        except ValueError:
            continue
        if isinstance(document, dict) and "service" in document:  # Logger lines and EMF metrics
            lines.append(document)
    return lines


def test_logs_never_contain_emails_or_phones_in_clear(local_stack, client_for):
    tag = uuid.uuid4().hex[:10]
    customer_id = f"pii-{tag}"
    emails = [
        f"Pii.Person.{tag}@Example.org",
        f"pii.changed.{tag}@example.net",
        f"pii.card.{tag}@example.com",
    ]
    digits = str(uuid.uuid4().int)[:8]
    phones = [f"+4479{digits}", f"+4478{digits}", f"+4477{digits}"]
    with client_for(local_stack, "storefront") as api:
        signup = api.post(
            "/v1/customers",
            json={
                "customer_id": customer_id,
                "email": emails[0],
                "first_name": "Pia",
                "last_name": "Private",
                "mobile": phones[0],
                "consents": {"email": True, "sms": True},
            },
        )
        assert signup.status_code == 202, signup.text
        local_stack.wait_until_drained(60)
        changed = api.patch(f"/v1/customers/{customer_id}", json={"email": emails[1], "mobile": phones[1]})
        assert changed.status_code == 202, changed.text
        api.post(f"/v1/customers/{customer_id}/loyalty/phone", json={"mobile": phones[2]})
        api.post(
            f"/v1/customers/{customer_id}/loyalty/attach",
            json={"card_number": "4000123412341234", "email": emails[2]},
        )
        local_stack.wait_until_drained(60)

    lines = _powertools_lines(local_stack.log_path)
    about_customer = [line for line in lines if pseudonym(customer_id) in json.dumps(line)]
    assert len(about_customer) >= 3, "the flow should have logged about this customer (by pseudonym)"
    text = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines).lower()
    for email in emails:
        assert email.lower() not in text, "an email address is logged in clear"
        assert email.split("@")[0].lower() not in text, "an email's local part is logged in clear"
    for phone in phones:
        assert phone[-9:] not in text, "a phone number is logged in clear"

"""openapi.yaml (the published contract) is generated from the route code, up to date,
valid OpenAPI 3.1, and covers every route of template.yaml (issue 7, API.md)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from bridge_local.template import load_template
from tests.ops.cfn import ROOT

DOCUMENT = ROOT / "openapi.yaml"


@pytest.fixture(scope="module")
def document():
    assert DOCUMENT.exists(), "openapi.yaml is missing: run `make openapi`"
    return yaml.safe_load(DOCUMENT.read_text())


def test_committed_document_is_up_to_date():
    # A fresh interpreter: generating imports every API function's module.
    done = subprocess.run(  # noqa: S603
        [sys.executable, str(ROOT / "tools" / "openapi.py"), "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr or done.stdout


def test_document_is_valid_openapi_3_1(document):
    from openapi_spec_validator import validate

    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_template_route_is_documented_and_nothing_else(document):
    routes = {(r.method.lower(), r.path) for r in load_template(ROOT / "template.yaml").routes}
    documented = {(method, path) for path, item in document["paths"].items() for method in item}
    assert routes - documented == set(), "template routes missing from openapi.yaml"
    assert documented - routes == set(), "openapi.yaml documents routes the API does not serve"


def test_signed_routes_require_the_signature_and_unsigned_ones_do_not(document):
    for route in load_template(ROOT / "template.yaml").routes:
        operation = document["paths"][route.path][route.method.lower()]
        if route.authorizer is None:
            assert operation["security"] == [], route.route_key
        else:
            assert operation["security"] == [
                {"bridgeKeyId": [], "bridgeTimestamp": [], "bridgeSignature": []}
            ], route.route_key


def test_signed_writes_declare_the_idempotency_key_and_problem_replies(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status in ("400", "422", "500"):
                content = operation["responses"][status]["content"]
                assert "application/problem+json" in content, f"{method} {path} {status}"
            if method in {"post", "put", "patch"} and operation["security"]:
                names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
                assert "Idempotency-Key" in names, f"{method} {path}"

"""Build ``openapi.yaml`` (OpenAPI 3.1) from the route code of every API function.

Each API function's ``app`` is a Powertools resolver with ``enable_validation=True``, so it
can describe its own routes (``get_openapi_schema()``). This merges them into one document
and adds what the shared front door (``loyalty_bridge.http_api.make_resolver``) does for
every route: the request signature, the ``Idempotency-Key`` header on writes and the
problem+json error replies. Routes come from template.yaml: a route in the template that no
function serves, or a served route the template does not route, is an error.

    python tools/openapi.py           # write openapi.yaml
    python tools/openapi.py --check   # exit 1 if openapi.yaml is not up to date
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "openapi.yaml"
TITLE = "loyalty-bridge storefront API"
WRITE_METHODS = {"post", "put", "patch"}
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}

SIGNATURE_SCHEMES = {
    "bridgeKeyId": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Bridge-Key-Id",
        "description": "Which storefront (or admin) key signed the request.",
    },
    "bridgeTimestamp": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Bridge-Timestamp",
        "description": "Unix seconds; refused when more than 300 s off.",
    },
    "bridgeSignature": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Bridge-Signature",
        "description": "Lowercase hex HMAC-SHA256(secret, canonical) where canonical = "
        '"{timestamp}\\n{METHOD}\\n{path}\\n{sha256_hex(body)}" and path is the raw path with its query.',
    },
}
SIGNED = [{name: [] for name in SIGNATURE_SCHEMES}]

PROBLEM = {
    "title": "Problem",
    "description": "RFC 9457 problem details with a stable machine code.",
    "type": "object",
    "required": ["type", "title", "status", "detail", "code", "request_id"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "the offending fields (validation errors)",
            "items": {"type": "object"},
        },
    },
}
# Replies every route can give, whatever it does (make_resolver and http_errors.py).
COMMON_PROBLEMS = {
    "400": "Malformed JSON or body, or a missing or invalid Idempotency-Key.",
    "404": "No such resource or route.",
    "413": "Request body over 64 KiB.",
    "415": "Unsupported media type.",
    "422": "Invalid or missing fields, or a business rule refused the request.",
    "500": "Unexpected error (a bug): a generic problem, never a stack trace.",
    "503": "A dependency is temporarily unavailable: retry with the same Idempotency-Key.",
}
SIGNED_PROBLEMS = {
    "401": "Missing or invalid request signature.",
    "403": "The key may not call this route (admin scope).",
    "409": "Conflict, or an Idempotency-Key reused with another body, or still in progress.",
    "429": "Too many attempts (see Retry-After).",
}
IDEMPOTENCY_HEADER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": True,
    "description": "The same key with the same body answers the first response again (kept 24 h).",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x21-\\x7e]+$"},
}

# A POST that changes nothing (the quote): asking again answers the same without a record.
READ_ONLY_IDEMPOTENCY_HEADER = {
    **IDEMPOTENCY_HEADER,
    "required": False,
    "description": "Not needed: this request changes nothing, so asking again gives the same "
    "answer; a key sent is accepted and ignored (no record is kept).",
}


# OpenAPI links: what an answer lets the caller do next (schemathesis's stateful phase
# follows them). (method, path, status) of the answer -> link name -> (method, path,
# {target parameter: runtime expression}) of the operation it leads to. A link to an
# operation or parameter that does not exist is an error; add rows for new routes here.
_CUSTOMER = {"customer_id": "$response.body#/customer_id"}
_ORDER = {"order_id": "$response.body#/order_id"}
_ERROR = {"error_id": "$response.body#/errors/0/error_id"}
_ORDER_LINKS = {
    "RefundOrder": ("post", "/v1/orders/{order_id}/refunds", _ORDER),
    "CancelOrder": ("post", "/v1/orders/{order_id}/cancel", _ORDER),
}
LINKS: dict[tuple[str, str, str], dict[str, tuple[str, str, dict[str, str]]]] = {
    ("post", "/v1/customers", "202"): {
        "LoyaltySummary": ("get", "/v1/customers/{customer_id}/loyalty", _CUSTOMER),
        "JoinNow": ("post", "/v1/customers/{customer_id}/loyalty/join", _CUSTOMER),
        "AttachCard": ("post", "/v1/customers/{customer_id}/loyalty/attach", _CUSTOMER),
        "SendPhoneCode": ("post", "/v1/customers/{customer_id}/loyalty/phone", _CUSTOMER),
        "Activity": ("get", "/v1/customers/{customer_id}/loyalty/activity", _CUSTOMER),
        "Coupons": ("get", "/v1/customers/{customer_id}/loyalty/coupons", _CUSTOMER),
        "LoyaltyProfile": ("get", "/v1/customers/{customer_id}/loyalty/profile", _CUSTOMER),
        "UpdateProfile": ("patch", "/v1/customers/{customer_id}", _CUSTOMER),
        "SetConsents": ("put", "/v1/customers/{customer_id}/consents", _CUSTOMER),
        "AdjustPoints": ("post", "/v1/admin/customers/{customer_id}/adjustments", _CUSTOMER),
    },
    ("post", "/v1/customers/{customer_id}/loyalty/join", "202"): {
        "LoyaltySummary": (
            "get",
            "/v1/customers/{customer_id}/loyalty",
            {"customer_id": "$request.path.customer_id"},
        ),
    },
    ("post", "/v1/checkout/redemptions", "201"): {
        "ReleaseHold": (
            "delete",
            "/v1/checkout/redemptions/{redemption_id}",
            {"redemption_id": "$response.body#/redemption_id"},
        ),
    },
    ("post", "/v1/orders", "200"): _ORDER_LINKS,
    ("post", "/v1/orders", "202"): _ORDER_LINKS,
    ("get", "/v1/admin/errors", "200"): {
        "ReplayError": ("post", "/v1/admin/errors/{error_id}/replay", _ERROR),
        "ResolveError": ("post", "/v1/admin/errors/{error_id}/resolve", _ERROR),
        "ErrorDetail": ("get", "/v1/admin/errors/{error_id}", _ERROR),
    },
    ("put", "/v1/admin/stores/{store_id}", "200"): {
        "StoreStats": ("get", "/v1/admin/stores/{store_id}/stats", {"store_id": "$request.path.store_id"}),
    },
}


def _add_links(paths: dict[str, dict[str, Any]]) -> None:
    for (method, path, status), links in LINKS.items():
        response = paths.get(path, {}).get(method, {}).get("responses", {}).get(status)
        if response is None:
            raise SystemExit(f"LINKS: {method.upper()} {path} has no {status} answer")
        rendered: dict[str, Any] = {}
        for name, (to_method, to_path, parameters) in links.items():
            target = paths.get(to_path, {}).get(to_method)
            if target is None:
                raise SystemExit(f"LINKS {name}: no operation {to_method.upper()} {to_path}")
            known = {p["name"] for p in target.get("parameters", [])}
            if not set(parameters) <= known:
                raise SystemExit(
                    f"LINKS {name}: {to_method.upper()} {to_path} has no {set(parameters) - known}"
                )
            rendered[name] = {"operationId": target["operationId"], "parameters": dict(parameters)}
        response["links"] = rendered


def _quiet_environment() -> None:
    # Importing a handler module builds loggers and settings; nothing may touch the network.
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "loyalty-bridge")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "LoyaltyBridge")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("AWS_REGION", "us-east-1")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


def _load_app(logical_id: str, module_file: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"openapi_fn_{logical_id}", module_file)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {module_file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    app = getattr(module, "app", None)
    if app is None or not hasattr(app, "get_openapi_schema"):
        raise SystemExit(f"{module_file} has no Powertools resolver named app")
    return app


def _merge_schemas(into: dict[str, Any], new: dict[str, Any], origin: str) -> None:
    for name, schema in new.items():
        if name in into and into[name] != schema:
            raise SystemExit(
                f"component schema {name!r} differs between functions ({origin}): give one of the "
                "models another name"
            )
        into[name] = schema


def _decorate(
    operation: dict[str, Any], method: str, *, signed: bool, idempotent: bool, read_only: bool = False
) -> None:
    operation["security"] = copy.deepcopy(SIGNED) if signed else []
    if idempotent and method in WRITE_METHODS:
        params = operation.setdefault("parameters", [])
        if not any(p.get("name", "").lower() == "idempotency-key" for p in params):
            params.append(copy.deepcopy(READ_ONLY_IDEMPOTENCY_HEADER if read_only else IDEMPOTENCY_HEADER))
    responses = operation.setdefault("responses", {})
    problems = {**COMMON_PROBLEMS, **(SIGNED_PROBLEMS if signed else {})}
    for status, description in problems.items():
        existing = responses.get(status)
        if existing is None or "application/json" in existing.get("content", {}):
            # Powertools documents its 422 as application/json; ours is problem+json.
            responses[status] = {
                "description": description,
                "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
            }


def build() -> dict[str, Any]:
    _quiet_environment()
    from bridge_local.template import load_template

    template = load_template(ROOT / "template.yaml")
    routed: dict[str, set[tuple[str, str]]] = {}
    unsigned: set[tuple[str, str]] = set()
    for route in template.routes:
        key = (route.method.lower(), route.path)
        routed.setdefault(route.function, set()).add(key)
        if route.authorizer is None:
            unsigned.add(key)

    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": TITLE,
            "version": _version(),
            "description": "Generated by tools/openapi.py from the route code; do not edit by hand. "
            "Contract: API.md. Every request except the unsigned ones (security: []) is signed.",
        },
        "servers": [{"url": "http://127.0.0.1:3000", "description": "the local stack (make run)"}],
        "paths": {},
        "components": {"schemas": {"Problem": PROBLEM}, "securitySchemes": SIGNATURE_SCHEMES},
        "security": SIGNED,
    }
    paths: dict[str, dict[str, Any]] = {}
    for logical_id in sorted(routed):
        spec = template.functions[logical_id]
        if not spec.module_file.is_file():
            raise SystemExit(f"{spec.module_file.relative_to(ROOT)} does not exist: template routes need it")
        app = _load_app(logical_id, spec.module_file)
        generated = app.get_openapi_schema(title=TITLE, version=_version()).model_dump(
            mode="json", by_alias=True, exclude_none=True
        )
        served = {
            (method, path)
            for path, item in generated.get("paths", {}).items()
            for method in item
            if method in HTTP_METHODS
        }
        if served != routed[logical_id]:
            missing = sorted(routed[logical_id] - served)
            extra = sorted(served - routed[logical_id])
            raise SystemExit(
                f"{logical_id}: template routes not served {missing}; served, not routed {extra}"
            )
        _merge_schemas(
            document["components"]["schemas"], generated.get("components", {}).get("schemas", {}), logical_id
        )
        for path, item in generated["paths"].items():
            for method, operation in item.items():
                if method not in HTTP_METHODS:
                    continue
                _decorate(
                    operation,
                    method,
                    signed=(method, path) not in unsigned and getattr(app, "signed", True),
                    idempotent=getattr(app, "idempotent_writes", True),
                    read_only=path in getattr(app, "read_only_paths", ()),
                )
                operation.setdefault("tags", [spec.name])
                paths.setdefault(path, {})[method] = operation
    document["paths"] = {path: paths[path] for path in sorted(paths)}
    _add_links(document["paths"])
    schemas = document["components"]["schemas"]
    used = _referenced(document["paths"], schemas)
    document["components"]["schemas"] = {name: schemas[name] for name in sorted(schemas) if name in used}
    return document


def _referenced(paths: dict[str, Any], schemas: dict[str, Any]) -> set[str]:
    """Component schemas reachable from the paths (Powertools' own 422 models are replaced
    by Problem, so they drop out)."""
    prefix = "#/components/schemas/"
    seen: set[str] = set()
    todo: list[Any] = [paths]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(prefix) and ref[len(prefix) :] not in seen:
                name = ref[len(prefix) :]
                seen.add(name)
                todo.append(schemas.get(name, {}))
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)
    return seen


def _version() -> str:
    from loyalty_bridge import __version__

    return str(__version__)


def render(document: dict[str, Any]) -> str:
    # Round-trip through JSON so the YAML holds plain types only (no Python tags).
    plain = json.loads(json.dumps(document))
    header = "# Generated by tools/openapi.py from the route code. Do not edit: run `make openapi`.\n"
    return header + yaml.safe_dump(plain, sort_keys=False, allow_unicode=True, width=100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="fail if openapi.yaml is not up to date")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    text = render(build())
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != text:
            print(f"{args.output.name} is out of date: run `make openapi`", file=sys.stderr)
            return 1
        print(f"{args.output.name} is up to date")
        return 0
    args.output.write_text(text)
    print(f"wrote {args.output.relative_to(ROOT)} ({len(document_paths(text))} paths)")
    return 0


def document_paths(text: str) -> list[str]:
    return list((yaml.safe_load(text) or {}).get("paths", {}))


if __name__ == "__main__":
    sys.exit(main())

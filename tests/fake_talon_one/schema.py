"""Checks HTTP exchanges against the official Talon.One Integration API schemas
(spec/integration-api.yaml, an excerpt of the published description: spec/README.md).

The fake server runs every request it receives and every answer it sends through this, so
the contract suite over it is also a conformance test in both directions. One reading of
the published description is ours and deliberate: effect ``props`` is a ``oneOf`` whose
branches overlap (two of them require nothing), so no instance can match exactly one; we
check every ``oneOf`` as ``anyOf`` (a value must still fit at least one branch).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import yaml
from jsonschema import Draft202012Validator, FormatChecker

SPEC_PATH = Path(__file__).resolve().parent / "spec" / "integration-api.yaml"


def _any_of(node: Any) -> Any:
    if isinstance(node, dict):
        return {("anyOf" if key == "oneOf" else key): _any_of(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_any_of(item) for item in node]
    return node


def _validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema, format_checker=FormatChecker())


def _problems(validator: Draft202012Validator, instance: Any) -> list[str]:
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message[:300]}"
        for error in validator.iter_errors(instance)
    ]


def _coerce(schema: dict[str, Any], raw: list[str]) -> Any:
    """A query or path parameter's text as the JSON value its schema describes."""
    kind = schema.get("type")
    if kind == "array":
        return [_coerce(schema.get("items", {}), [value]) for value in raw]
    value = raw[-1]
    if kind == "boolean":
        return {"true": True, "false": False}.get(value, value)
    if kind in ("integer", "number"):
        try:
            return int(value) if kind == "integer" else float(value)
        except ValueError:
            return value
    return value


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    template: str
    pattern: re.Pattern[str]
    parameters: tuple[dict[str, Any], ...]
    body: Draft202012Validator | None
    body_required: bool
    responses: dict[str, Draft202012Validator | None]


class SchemaChecker:
    def __init__(self, path: Path = SPEC_PATH) -> None:
        self.document: dict[str, Any] = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 (a safe loader)
        self.operations: dict[str, Operation] = {}
        for template, item in self.document["paths"].items():
            regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
            for method, op in item.items():
                body = op.get("requestBody")
                schema = body["content"]["application/json"]["schema"] if body else None
                responses: dict[str, Draft202012Validator | None] = {}
                for status, response in op["responses"].items():
                    content = response.get("content", {}).get("application/json")
                    responses[str(status)] = _validator(_any_of(content["schema"])) if content else None
                self.operations[op["operationId"]] = Operation(
                    operation_id=op["operationId"],
                    method=method.upper(),
                    template=template,
                    pattern=re.compile(regex),
                    parameters=tuple(op.get("parameters", [])),
                    body=_validator(_any_of(schema)) if schema is not None else None,
                    body_required=bool(body and body.get("required")),
                    responses=responses,
                )

    def operation(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        for operation in self.operations.values():
            if operation.method == method and (found := operation.pattern.fullmatch(path)):
                return operation, found.groupdict()
        return None

    def check_request(
        self, operation: Operation, path_params: dict[str, str], query: str, body: bytes, content_type: str
    ) -> list[str]:
        """What in this request the official schema refuses (empty: it is valid)."""
        op = operation.operation_id
        problems: list[str] = []
        values = parse_qs(query, keep_blank_values=True)
        known = {p["name"] for p in operation.parameters if p.get("in") == "query"}
        for name in values:
            if name not in known:
                problems.append(f"{op}: unknown query parameter {name}")
        for param in operation.parameters:
            where, name = param.get("in"), param["name"]
            if where == "path":
                raw = [path_params[name]]
            elif where == "query" and name in values:
                raw = values[name]
            else:
                if param.get("required") and where in ("query", "header"):
                    problems.append(f"{op}: missing {where} parameter {name}")
                continue
            value = _coerce(param.get("schema", {}), raw)
            problems += [f"{op}: {where} {name}: {p}" for p in _problems(_validator(param["schema"]), value)]
        if operation.body is None:
            if body:
                problems.append(f"{op}: a body where the schema has none")
            return problems
        if not body:
            return [*problems, f"{op}: the body is required"] if operation.body_required else problems
        if content_type.split(";")[0].strip() != "application/json":
            problems.append(f"{op}: Content-Type is not application/json")
        try:
            instance = json.loads(body)
        except ValueError:
            return [*problems, f"{op}: the body is not JSON"]
        return problems + [f"{op} request: {p}" for p in _problems(operation.body, instance)]

    def check_response(self, operation: Operation, status: int, body: bytes) -> list[str]:
        op = operation.operation_id
        if str(status) not in operation.responses:
            return [f"{op}: status {status} is not in the schema"]
        validator = operation.responses[str(status)]
        if validator is None:
            return [f"{op}: status {status} has no body in the schema"] if body else []
        try:
            instance = json.loads(body)
        except ValueError:
            return [f"{op} response {status}: not JSON"]
        return [f"{op} response {status}: {p}" for p in _problems(validator, instance)]


class _Loader(yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader):  # type: ignore[misc]
    """The C loader when there is one: the excerpt is large."""


@cache
def schema_checker() -> SchemaChecker:
    return SchemaChecker()

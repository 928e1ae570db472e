"""Checks HTTP exchanges against contracts/platform-openapi.yaml.

The fake platform runs every request it receives and every answer it sends through this
checker, so the contract suite doubles as a conformance test in both directions: the
adapter sends what the contract says, and the fake answers what the contract says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

CONTRACT_PATH = Path(__file__).resolve().parents[2] / "contracts" / "platform-openapi.yaml"
_URI = "urn:loyalty-bridge:platform-contract"
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _pointer(*parts: str) -> str:
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts)


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    path_template: str
    pattern: re.Pattern[str]
    params: tuple[dict[str, Any], ...]
    body_pointer: str | None
    responses: dict[str, str | None]  # status (e.g. "201", "5XX") -> schema pointer or None (no body)

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method != self.method:
            return None
        found = self.pattern.fullmatch(path)
        return found.groupdict() if found else None


class ContractChecker:
    def __init__(self, path: Path = CONTRACT_PATH) -> None:
        self.document: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
        resource = Resource.from_contents(self.document, default_specification=DRAFT202012)
        self._registry: Registry[Any] = Registry().with_resource(_URI, resource)
        self._validators: dict[str, Draft202012Validator] = {}
        self.operations = self._index()

    # ------------------------------------------------------------ public

    def operation(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        for operation in self.operations.values():
            params = operation.match(method, path)
            if params is not None:
                return operation, params
        return None

    def check_request(self, operation_id: str, headers: dict[str, str], body: bytes) -> list[str]:
        operation = self.operations[operation_id]
        problems: list[str] = []
        lowered = {name.lower(): value for name, value in headers.items()}
        for param in operation.params:
            if param.get("in") != "header":
                continue
            value = lowered.get(param["name"].lower())
            if value is None:
                if param.get("required"):
                    problems.append(f"{operation_id}: missing header {param['name']}")
                continue
            problems += [
                f"{operation_id}: header {param['name']}: {p}"
                for p in self._validate_value(param["schema"], value)
            ]
        if operation.body_pointer is None:
            if body:
                problems.append(f"{operation_id}: request has a body but the contract has none")
            return problems
        if lowered.get("content-type", "").split(";")[0].strip() != "application/json":
            problems.append(f"{operation_id}: request Content-Type is not application/json")
        problems += [
            f"{operation_id} request: {p}" for p in self._validate_json(operation.body_pointer, body)
        ]
        return problems

    def check_response(self, operation_id: str, status: int, body: bytes) -> list[str]:
        operation = self.operations[operation_id]
        key = str(status) if str(status) in operation.responses else f"{str(status)[0]}XX"
        if key not in operation.responses:
            return [f"{operation_id}: status {status} is not in the contract"]
        pointer = operation.responses[key]
        if pointer is None:
            return [f"{operation_id}: status {status} must have no body"] if body else []
        return [f"{operation_id} response {status}: {p}" for p in self._validate_json(pointer, body)]

    # ------------------------------------------------------------ internals

    def _validate_json(self, pointer: str, body: bytes) -> list[str]:
        import json

        try:
            instance = json.loads(body)
        except ValueError:
            return ["body is not JSON"]
        validator = self._validator(pointer)
        return [
            f"{'/'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
            for error in validator.iter_errors(instance)
        ]

    def _validate_value(self, schema: dict[str, Any], value: str) -> list[str]:
        validator = Draft202012Validator(schema, format_checker=FormatChecker())
        return [error.message for error in validator.iter_errors(value)]

    def _validator(self, pointer: str) -> Draft202012Validator:
        validator = self._validators.get(pointer)
        if validator is None:
            validator = Draft202012Validator(
                {"$ref": f"{_URI}#{pointer}"}, registry=self._registry, format_checker=FormatChecker()
            )
            self._validators[pointer] = validator
        return validator

    def _resolve(self, node: dict[str, Any], pointer: str) -> tuple[dict[str, Any], str]:
        """Follow a local (non-schema) $ref, e.g. to components/responses."""
        while "$ref" in node:
            ref = node["$ref"]
            assert ref.startswith("#/"), ref
            pointer = ref[1:]
            node = self.document
            for part in ref[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
        return node, pointer

    def _index(self) -> dict[str, Operation]:
        operations: dict[str, Operation] = {}
        for template, item in self.document["paths"].items():
            shared = [self._resolve(p, "")[0] for p in item.get("parameters", [])]
            regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
            for method, op in item.items():
                if method == "parameters":
                    continue
                base = _pointer("paths", template, method)
                params = tuple(shared + [self._resolve(p, "")[0] for p in op.get("parameters", [])])
                body_pointer = None
                if "requestBody" in op:
                    body_pointer = base + _pointer("requestBody", "content", "application/json", "schema")
                responses: dict[str, str | None] = {}
                for status, response in op["responses"].items():
                    resolved, response_pointer = self._resolve(response, base + _pointer("responses", status))
                    content = resolved.get("content", {}).get("application/json")
                    responses[str(status)] = (
                        response_pointer + _pointer("content", "application/json", "schema")
                        if content
                        else None
                    )
                operations[op["operationId"]] = Operation(
                    operation_id=op["operationId"],
                    method=method.upper(),
                    path_template=template,
                    pattern=re.compile(regex),
                    params=params,
                    body_pointer=body_pointer,
                    responses=responses,
                )
        return operations

    @staticmethod
    def is_write(method: str) -> bool:
        return method in _WRITE_METHODS


@cache
def contract_checker() -> ContractChecker:
    return ContractChecker()

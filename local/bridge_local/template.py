"""template.yaml for the local world: parse (with CloudFormation short tags), merge Globals,
and resolve Ref / Fn::GetAtt / Fn::Sub / ... against locally created resources.

template.yaml is the single source of truth: nothing here lists tables, queues or routes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TEMPLATE = PROJECT_ROOT / "template.yaml"

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
API_ID = "localapi01"

FUNCTION = "AWS::Serverless::Function"
TABLE = "AWS::DynamoDB::Table"
QUEUE = "AWS::SQS::Queue"
SECRET = "AWS::SecretsManager::Secret"  # noqa: S105 (a resource type)
HTTP_API = "AWS::Serverless::HttpApi"
BUCKET = "AWS::S3::Bucket"


# ---------------------------------------------------------------- parsing


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns CloudFormation short tags into their long form."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        raise yaml.constructor.ConstructorError(None, None, f"unexpected node for !{suffix}", node.start_mark)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    if suffix == "Condition":
        return {"Condition": value}
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def parse_template(path: Path) -> dict[str, Any]:
    document = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)  # noqa: S506 (SafeLoader subclass)
    if not isinstance(document, dict) or "Resources" not in document:
        raise ValueError(f"{path} is not a CloudFormation/SAM template")
    return document


def _deep_merge(base: Any, override: Any) -> Any:
    """SAM Globals semantics: maps merge (function wins), lists concatenate, scalars replace."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = _deep_merge(base[key], value) if key in base else value
        return merged
    if isinstance(base, list) and isinstance(override, list):
        return [*base, *override]
    return override


# ---------------------------------------------------------------- model


@dataclass(frozen=True)
class Route:
    method: str  # upper case, or ANY
    path: str  # template path, e.g. /v1/customers/{customer_id}
    function: str  # logical id
    event: str  # event name in the template
    authorizer: str | None  # authorizer name, None for Authorizer: NONE

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class Authorizer:
    name: str
    function: str  # logical id
    payload_version: str
    simple_responses: bool
    identity_headers: tuple[str, ...] = ()
    identity_query: tuple[str, ...] = ()


@dataclass(frozen=True)
class SqsSource:
    function: str
    event: str
    queue: str  # logical id of the AWS::SQS::Queue
    batch_size: int
    window_seconds: int
    report_failures: bool
    enabled: bool = True


@dataclass(frozen=True)
class ScheduleSource:
    function: str
    event: str
    expression: str  # rate(5 minutes) / cron(...)
    enabled: bool = True
    input: str | None = None


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_uri: Path
    handler: str
    timeout: int
    memory: int
    properties: Mapping[str, Any]  # merged with Globals, unresolved

    @property
    def name(self) -> str:
        """Short name: the CodeUri folder (functions/<name>)."""
        return self.code_uri.name

    @property
    def module_file(self) -> Path:
        module, _, _ = self.handler.rpartition(".")
        return self.code_uri / (module.replace(".", "/") + ".py")

    @property
    def handler_attr(self) -> str:
        return self.handler.rpartition(".")[2]


@dataclass
class Template:
    path: Path
    document: dict[str, Any]
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)
    authorizers: dict[str, Authorizer] = field(default_factory=dict)
    sqs_sources: list[SqsSource] = field(default_factory=list)
    schedules: list[ScheduleSource] = field(default_factory=list)

    @property
    def resources(self) -> dict[str, Any]:
        resources: dict[str, Any] = self.document["Resources"]
        return resources

    @property
    def parameters(self) -> dict[str, Any]:
        parameters: dict[str, Any] = self.document.get("Parameters") or {}
        return parameters

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {lid: res for lid, res in self.resources.items() if res.get("Type") == resource_type}

    def function_by_name(self, name: str) -> FunctionSpec:
        for spec in self.functions.values():
            if name in (spec.name, spec.logical_id):
                return spec
        raise KeyError(name)


def _logical_ref(value: Any) -> str | None:
    """Logical id behind !Ref X / !GetAtt X.Attr (used for queue and function references)."""
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            return str(target[0] if isinstance(target, list) else str(target).split(".")[0])
    return None


def load_template(path: Path | str = DEFAULT_TEMPLATE) -> Template:
    path = Path(path).resolve()
    document = parse_template(path)
    template = Template(path=path, document=document)
    globals_fn = (document.get("Globals") or {}).get("Function") or {}
    globals_api = (document.get("Globals") or {}).get("HttpApi") or {}

    apis: dict[str, dict[str, Any]] = {}
    for lid, res in template.of_type(HTTP_API).items():
        props = _deep_merge(globals_api, res.get("Properties") or {})
        apis[lid] = props
        auth = props.get("Auth") or {}
        for name, spec in (auth.get("Authorizers") or {}).items():
            function = _logical_ref(spec.get("FunctionArn"))
            if function is None:
                continue  # JWT authorizers have no function: not emulated
            identity = spec.get("Identity") or {}
            template.authorizers[name] = Authorizer(
                name=name,
                function=function,
                payload_version=str(spec.get("AuthorizerPayloadFormatVersion", "2.0")),
                simple_responses=bool(spec.get("EnableSimpleResponses", False)),
                identity_headers=tuple(identity.get("Headers") or ()),
                identity_query=tuple(identity.get("QueryStrings") or ()),
            )

    for lid, res in template.of_type(FUNCTION).items():
        props = _deep_merge(globals_fn, res.get("Properties") or {})
        code_uri = props.get("CodeUri")
        if not isinstance(code_uri, str):
            raise ValueError(f"{lid}: only a local CodeUri folder is supported")
        template.functions[lid] = FunctionSpec(
            logical_id=lid,
            code_uri=(path.parent / code_uri).resolve(),
            handler=str(props.get("Handler", "app.lambda_handler")),
            timeout=int(props.get("Timeout", 3)),
            memory=int(props.get("MemorySize", 128)),
            properties=props,
        )
        for event_name, event in (props.get("Events") or {}).items():
            kind = event.get("Type")
            eprops = event.get("Properties") or {}
            if kind == "HttpApi":
                api_id = _logical_ref(eprops.get("ApiId")) or "ServerlessHttpApi"
                api = apis.get(api_id, globals_api)
                default_auth = (api.get("Auth") or {}).get("DefaultAuthorizer")
                route_auth = (eprops.get("Auth") or {}).get("Authorizer", default_auth)
                template.routes.append(
                    Route(
                        method=str(eprops.get("Method", "ANY"))
                        .upper()
                        .replace("X-AMAZON-APIGATEWAY-ANY-METHOD", "ANY"),
                        path=str(eprops.get("Path", "$default")),
                        function=lid,
                        event=event_name,
                        authorizer=None if route_auth in (None, "NONE") else str(route_auth),
                    )
                )
            elif kind == "SQS":
                queue = _logical_ref(eprops.get("Queue"))
                if queue is None:
                    raise ValueError(f"{lid}.{event_name}: the SQS Queue must reference a template queue")
                template.sqs_sources.append(
                    SqsSource(
                        function=lid,
                        event=event_name,
                        queue=queue,
                        batch_size=int(eprops.get("BatchSize", 10)),
                        window_seconds=int(eprops.get("MaximumBatchingWindowInSeconds", 0)),
                        report_failures="ReportBatchItemFailures"
                        in (eprops.get("FunctionResponseTypes") or ()),
                        enabled=bool(eprops.get("Enabled", True)),
                    )
                )
            elif kind in ("Schedule", "ScheduleV2"):
                expression = eprops.get("Schedule") or eprops.get("ScheduleExpression")
                template.schedules.append(
                    ScheduleSource(
                        function=lid,
                        event=event_name,
                        expression=str(expression),
                        enabled=bool(eprops.get("Enabled", True))
                        and eprops.get("State", "ENABLED") != "DISABLED",
                        input=eprops.get("Input"),
                    )
                )
    return template


# ---------------------------------------------------------------- resolution


class Unresolvable(ValueError):
    pass


_NO_VALUE = object()
_SUB_VAR = re.compile(r"\$\{([^}!][^}]*)\}")


@dataclass
class Resolver:
    """Resolves intrinsic functions. ``refs`` maps logical id -> Ref value; ``attrs`` maps
    (logical id, attribute) -> value. Parameters resolve to their default unless overridden."""

    template: Template
    stack_name: str = "loyalty-bridge"
    region: str = REGION
    account_id: str = ACCOUNT_ID
    parameter_overrides: Mapping[str, str] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)
    attrs: dict[tuple[str, str], str] = field(default_factory=dict)
    fallback: Callable[[str, str | None], str] | None = None

    def parameter(self, name: str) -> str:
        if name in self.parameter_overrides:
            return str(self.parameter_overrides[name])
        spec = self.template.parameters[name]
        if "Default" not in spec:
            raise Unresolvable(f"parameter {name} has no default: pass an override")
        default = spec["Default"]
        if isinstance(default, list):
            return ",".join(str(part) for part in default)
        return str(default)

    def pseudo(self, name: str) -> Any:
        values: dict[str, Any] = {
            "AWS::StackName": self.stack_name,
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": (
                f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/{self.stack_name}/local"
            ),
            "AWS::NotificationARNs": [],
            "AWS::NoValue": _NO_VALUE,
        }
        if name not in values:
            raise Unresolvable(f"unknown pseudo parameter {name}")
        return values[name]

    def ref(self, name: str) -> Any:
        if name.startswith("AWS::"):
            return self.pseudo(name)
        if name in self.template.parameters:
            return self.parameter(name)
        if name in self.refs:
            return self.refs[name]
        if name in self.template.resources and self.fallback is not None:
            return self.fallback(name, None)
        raise Unresolvable(f"Ref {name}: not created locally")

    def get_att(self, name: str, attribute: str) -> str:
        if (name, attribute) in self.attrs:
            return self.attrs[(name, attribute)]
        if name in self.template.resources and self.fallback is not None:
            return self.fallback(name, attribute)
        raise Unresolvable(f"GetAtt {name}.{attribute}: not created locally")

    def condition(self, name: str) -> bool:
        conditions = self.template.document.get("Conditions") or {}
        return bool(self.resolve(conditions[name]))

    def sub(self, text: str, variables: Mapping[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            key = match.group(1).strip()
            if key in variables:
                return str(variables[key])
            if "." in key and not key.startswith("AWS::"):
                resource, _, attribute = key.partition(".")
                return self.get_att(resource, attribute)
            return str(self.ref(key))

        return _SUB_VAR.sub(replace, text).replace("${!", "${")

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(str(arg))
            if key == "Fn::GetAtt":
                parts = arg if isinstance(arg, list) else str(arg).split(".", 1)
                return self.get_att(str(parts[0]), str(self.resolve(parts[1])))
            if key == "Fn::Sub":
                if isinstance(arg, list):
                    text, variables = arg[0], {k: self.resolve(v) for k, v in (arg[1] or {}).items()}
                else:
                    text, variables = arg, {}
                return self.sub(str(text), variables)
            if key == "Fn::Join":
                sep, items = arg
                return str(sep).join(str(item) for item in self.resolve(items))
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                sep, text = arg
                return str(self.resolve(text)).split(str(sep))
            if key == "Fn::If":
                name, when_true, when_false = arg
                return self.resolve(when_true if self.condition(str(name)) else when_false)
            if key == "Fn::Equals":
                left, right = (self.resolve(part) for part in arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(part) for part in arg)
            if key == "Fn::Or":
                return any(self.resolve(part) for part in arg)
            if key == "Condition":
                return self.condition(str(arg))
            if key == "Fn::ToJsonString":
                return json.dumps(self.resolve(arg), separators=(",", ":"))
            if key == "Fn::Base64":
                import base64

                return base64.b64encode(str(self.resolve(arg)).encode()).decode()
            if key.startswith("Fn::"):
                raise Unresolvable(f"{key} is not supported by the local stack")
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not _NO_VALUE}

    def environment(self, spec: FunctionSpec) -> dict[str, str]:
        """The function's environment variables as Lambda would see them (all strings)."""
        variables = ((spec.properties.get("Environment") or {}).get("Variables")) or {}
        resolved = self.resolve(variables)
        return {str(k): _env_string(v) for k, v in resolved.items()}


def _env_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)

"""Read template.yaml as CloudFormation sees it (short-form intrinsics as dicts).

Shared by the ops tests; the bench reads the template through it too.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    pass


def _intrinsic(loader: yaml.Loader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


@cache
def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 (SafeLoader subclass)
    return loaded


def resources(of_type: str | None = None) -> dict[str, dict[str, Any]]:
    res: dict[str, dict[str, Any]] = load_template()["Resources"]
    return {k: v for k, v in res.items() if of_type is None or v["Type"] == of_type}


_SUB_VAR = re.compile(r"\$\{([^}!]+)\}")


def sub_variables(text: str) -> set[str]:
    """The ${...} names an Fn::Sub string refers to."""
    return set(_SUB_VAR.findall(text))


def render_sub(text: str) -> str:
    """Fn::Sub with every variable replaced by a placeholder naming it (for JSON parsing)."""
    return _SUB_VAR.sub(lambda m: "SUB:" + m.group(1), text)


def dashboard_body(logical_id: str = "OpsDashboard") -> dict[str, Any]:
    body = resources()[logical_id]["Properties"]["DashboardBody"]
    text = body["Fn::Sub"] if isinstance(body, dict) else body
    parsed: dict[str, Any] = json.loads(render_sub(text))
    return parsed


def queue_roles() -> tuple[set[str], set[str]]:
    """(work queues, dead-letter queues), told apart by the RedrivePolicy targets."""
    queues = resources("AWS::SQS::Queue")
    dlqs = {
        q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for q in queues.values()
        if "RedrivePolicy" in q.get("Properties", {})
    }
    return set(queues) - dlqs, dlqs

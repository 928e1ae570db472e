"""Which business metrics the code emits, and with which dimension names, read from the
source with ``ast`` (no imports of handlers, no AWS).

Powertools adds the ``service`` dimension to every metric (``Metrics()`` and
``single_metric``, from POWERTOOLS_SERVICE_NAME), so it is part of every dimension set.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from loyalty_bridge.observability import MetricName
from tests.ops.cfn import ROOT

SOURCE_DIRS = (ROOT / "layers" / "core" / "loyalty_bridge", ROOT / "functions")
CATALOGUE = {attr: value for attr, value in vars(MetricName).items() if attr.isupper()}
BASE_DIMENSIONS = frozenset({"service"})
# The metrics port's plain methods (ports.Metrics.count/.milliseconds, implemented by
# observability.PowertoolsMetrics) call Powertools ``metrics.add_metric`` with no dimension
# of their own; scan() checks that their definitions add none. ``count_by`` emits one metric
# with the dimensions named by its keyword arguments.
SINK_HELPERS = frozenset({"count", "milliseconds"})
UNKNOWN = frozenset({"?"})  # dimensions not decidable from the source (charted any way is fine)


@dataclass
class Emissions:
    # metric name -> dimension-name sets it is emitted with (UNKNOWN when not decidable)
    dims: dict[str, set[frozenset[str]]] = field(default_factory=lambda: defaultdict(set))
    literal_names: list[str] = field(default_factory=list)  # "file:line name" bypassing the catalogue
    unknown_attrs: list[str] = field(default_factory=list)  # MetricName.X that does not exist


def _catalogue_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Attribute) and (
        (isinstance(node.value, ast.Name) and node.value.id == "MetricName")
        or (isinstance(node.value, ast.Attribute) and node.value.attr == "MetricName")
    ):
        return node.attr
    return None


def _call_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def _metric_arg(call: ast.Call) -> ast.AST | None:
    for kw in call.keywords:
        if kw.arg == "name":
            return kw.value
    return call.args[0] if call.args else None


def python_files() -> list[Path]:
    files: list[Path] = []
    for base in SOURCE_DIRS:
        if base.exists():
            files.extend(p for p in base.rglob("*.py") if "__pycache__" not in p.parts)
    return sorted(files)


def _helpers_add_dimensions() -> bool:
    for path in python_files():
        for fn in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if (
                isinstance(fn, ast.FunctionDef)
                and fn.name in SINK_HELPERS
                and any(isinstance(n, ast.Call) and _call_name(n) == "add_dimension" for n in ast.walk(fn))
            ):
                return True
    return False


def scan() -> Emissions:
    found = Emissions()
    helper_dims = UNKNOWN if _helpers_add_dimensions() else BASE_DIMENSIONS
    for path in python_files():
        tree = ast.parse(path.read_text(), filename=str(path))
        rel = path.relative_to(ROOT)
        adds_dimensions = any(
            isinstance(n, ast.Call)
            and _call_name(n) in {"add_dimension", "set_default_dimensions"}
            and not _inside_count_by(tree, n)
            for n in ast.walk(tree)
        )
        in_emit_call: set[int] = set()
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            kind = _call_name(node)
            if kind in SINK_HELPERS:
                for arg in node.args:
                    attr = _catalogue_name(arg)
                    if attr in CATALOGUE:
                        in_emit_call.add(id(arg))
                        found.dims[CATALOGUE[attr]].add(UNKNOWN if adds_dimensions else helper_dims)
                continue
            if kind not in {"count_by", "add_metric", "single_metric"}:
                continue
            arg = _metric_arg(node)
            if arg is None:
                continue
            attr = _catalogue_name(arg)
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.literal_names.append(f"{rel}:{node.lineno} {arg.value}")
                continue
            if attr is None:
                continue  # a variable: the MetricName.X it holds is counted where it is written
            in_emit_call.add(id(arg))
            if attr not in CATALOGUE:
                found.unknown_attrs.append(f"{rel}:{node.lineno} MetricName.{attr}")
                continue
            name = CATALOGUE[attr]
            if kind == "count_by":
                if any(kw.arg is None for kw in node.keywords):
                    found.dims[name].add(UNKNOWN)
                else:
                    extra = {kw.arg for kw in node.keywords if kw.arg not in {"name", "value"}}
                    found.dims[name].add(BASE_DIMENSIONS | extra)
            elif kind == "add_metric" and not adds_dimensions:
                found.dims[name].add(BASE_DIMENSIONS)
            else:
                found.dims[name].add(UNKNOWN)
        for node in ast.walk(tree):
            attr = _catalogue_name(node)
            if attr is None or id(node) in in_emit_call or path.name == "observability.py":
                continue
            if attr not in CATALOGUE:
                found.unknown_attrs.append(f"{rel}:{getattr(node, 'lineno', 0)} MetricName.{attr}")
                continue
            # Passed on (e.g. to a helper that emits it): emitted, dimensions not decidable here.
            found.dims[CATALOGUE[attr]].add(UNKNOWN)
    return found


def _inside_count_by(tree: ast.AST, call: ast.Call) -> bool:
    """add_dimension inside observability.PowertoolsMetrics.count_by's own body adds
    per-call dimensions that scan() already reads from the keyword arguments."""
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef) and fn.name == "count_by":
            return any(n is call for n in ast.walk(fn))
    return False

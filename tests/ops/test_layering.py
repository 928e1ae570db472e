"""Layering of the core package (issue 11): services and adapters never reach back into the
composition root, and services use Powertools only through the logger.

Read with ast, so an import inside a function counts as much as one at the top."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ops.cfn import ROOT

PACKAGE = ROOT / "layers" / "core" / "loyalty_bridge"
# What observability.py exports that is Powertools itself (or writes through it) rather than
# the logger or plain helpers (pseudonym, masking, metric names).
POWERTOOLS_OBJECTS = {"metrics", "tracer", "count_metric"}


def _modules(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py"))


def _imports(path: Path) -> Iterator[tuple[int, str, list[str]]]:
    """(line, module, names) of every import in ``path``; names empty for ``import x``."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            yield node.lineno, base, [alias.name for alias in node.names]


def _where(path: Path, line: int) -> str:
    return f"{path.relative_to(ROOT)}:{line}"


def test_the_folders_checked_hold_modules() -> None:
    assert len(_modules("services")) > 5
    assert len(_modules("adapters")) > 5


@pytest.mark.parametrize("folder", ["services", "adapters"])
def test_nothing_under_services_or_adapters_imports_wiring(folder: str) -> None:
    found = []
    for path in _modules(folder):
        for line, module, names in _imports(path):
            wiring = module in ("loyalty_bridge.wiring", "..wiring") or (
                module in ("loyalty_bridge", "..") and "wiring" in names
            )
            if wiring:
                found.append(_where(path, line))
    assert found == [], f"wiring is the composition root; inject what these need instead: {found}"


def test_services_use_powertools_only_through_the_logger() -> None:
    found = []
    for path in _modules("services"):
        for line, module, names in _imports(path):
            if module.split(".")[0] == "aws_lambda_powertools":
                found.append(f"{_where(path, line)} imports {module}")
            elif module == "loyalty_bridge.observability" and POWERTOOLS_OBJECTS & set(names):
                found.append(f"{_where(path, line)} imports {sorted(POWERTOOLS_OBJECTS & set(names))}")
    assert found == [], f"services take metrics and tracing through ports: {found}"


def _api_handlers() -> list[Path]:
    """functions/*/app.py that serve HTTP routes (they build a resolver with make_resolver)."""
    return [
        path for path in sorted((ROOT / "functions").glob("*/app.py")) if "make_resolver(" in path.read_text()
    ]


def test_api_handlers_take_their_services_from_one_holder() -> None:
    """Routes read ``services.<name>`` (a HandlerServices subclass a test can fill with fakes);
    only the holder's class body names wiring."""
    handlers = _api_handlers()
    assert {path.parent.name for path in handlers} >= {"admin_api", "membership_api", "mailchimp_webhook"}
    found = []
    for path in handlers:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        holders = [
            node
            for node in tree.body
            if isinstance(node, ast.ClassDef)
            and any(isinstance(base, ast.Name) and base.id == "HandlerServices" for base in node.bases)
        ]
        inside = {id(node) for holder in holders for node in ast.walk(holder)}
        uses = [
            node.lineno
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "wiring"
            and id(node) not in inside
        ]
        if uses:
            found.append(f"{path.relative_to(ROOT)} calls wiring outside its Services at lines {uses}")
    assert found == [], found

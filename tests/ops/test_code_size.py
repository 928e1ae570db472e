"""Limits of the core package (issue 11, "one home for each rule"): no module of
layers/core/loyalty_bridge over 600 lines, no function (methods and nested functions
included, decorators not) over 80 lines.

``PENDING`` names what is over a limit and still to be split; it may only shrink: an
entry that meets the limits fails the test until it is removed, so nothing new joins it
unnoticed.
"""

from __future__ import annotations

import ast

from tests.ops.cfn import ROOT

PACKAGE = ROOT / "layers" / "core" / "loyalty_bridge"
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80

PENDING: set[str] = set()


def _oversized() -> set[str]:
    found: set[str] = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        source = path.read_text(encoding="utf-8")
        if len(source.splitlines()) > MAX_MODULE_LINES:
            found.add(name)
        for node in ast.walk(ast.parse(source, filename=str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found.add(f"{name}::{node.name}")
    return found


def test_no_module_or_function_of_the_core_package_is_over_its_limit() -> None:
    assert _oversized() - PENDING == set()


def test_what_is_pending_is_still_over_a_limit() -> None:
    assert PENDING - _oversized() == set(), "these meet the limits now: take them off PENDING"


def test_the_check_sees_modules_and_nested_functions() -> None:
    assert "adapters/ledger/__init__.py" in {
        path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*.py")
    }
    nested = ast.parse("def outer():\n    def inner():\n" + "        x = 1\n" * 90)
    lengths = {
        node.name: (node.end_lineno or 0) - node.lineno + 1
        for node in ast.walk(nested)
        if isinstance(node, ast.FunctionDef)
    }
    assert lengths == {"outer": 92, "inner": 91}

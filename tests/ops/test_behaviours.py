"""docs/BEHAVIOURS.md maps every behaviour id of PRODUCT.md to its routes or functions, its
modules and its tests (issue 11).

Two tests. The first needs only this repository: every row has a well-formed id, names real
places (paths that exist, routes of template.yaml, functions of the template) and at least
one test file, unless it says "not built yet (issue N)". The second compares the ids with
``../shared/PRODUCT.md`` (beside the repository; ``PRODUCT_MD`` may name another copy). A
fresh clone may not have that file: only then is the second test skipped, with the reason.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from bridge_local.template import load_template
from tests.ops.cfn import ROOT

BEHAVIOURS = ROOT / "docs" / "BEHAVIOURS.md"
CORE = ROOT / "layers" / "core"
ID = re.compile(r"^[A-Z][0-9]{1,2}$")
PRODUCT_ID = re.compile(r"\*\*([A-Z][0-9]{1,2})\b")  # "- **A1 Auto-join.**", "**D2 Erasure**"
NOT_BUILT = re.compile(r"not built yet \((issue [0-9]+|no issue yet)\)")
ROUTE = re.compile(r"^(GET|POST|PUT|PATCH|DELETE) /\S*$")
TICKED = re.compile(r"`([^`]+)`")


@dataclass(frozen=True)
class Row:
    line: int
    id: str
    where: str
    modules: str
    tests: str


def _named(cell: str) -> list[str]:
    return TICKED.findall(cell)


def _rows() -> list[Row]:
    rows = []
    for number, line in enumerate(BEHAVIOURS.read_text().splitlines(), start=1):
        if not line.startswith("|") or line.startswith(("| Id ", "|---")):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        assert len(cells) == 5, f"BEHAVIOURS.md:{number}: 5 cells: id, behaviour, where, modules, tests"
        rows.append(Row(number, cells[0], cells[2], cells[3], cells[4]))
    return rows


def _problems_with(reference: str, routes: set[str], functions: set[str]) -> str | None:
    """Why a backticked reference is not a real place, or None when it is."""
    if ROUTE.match(reference):
        return None if reference in routes else "is not a route of template.yaml"
    if reference.startswith("functions/"):
        name = reference.removeprefix("functions/")
        return None if name in functions else "is not a function of template.yaml"
    if "/" not in reference:
        return "is neither a route nor a path"
    path = CORE / reference if reference.startswith("loyalty_bridge/") else ROOT / reference
    return None if path.exists() else "does not exist"


def test_every_row_names_real_places_and_its_tests() -> None:
    template = load_template(ROOT / "template.yaml")
    routes = {route.route_key for route in template.routes}
    functions = {spec.name for spec in template.functions.values()}
    rows = _rows()
    assert rows, "docs/BEHAVIOURS.md has no table rows"
    problems = []
    seen: set[str] = set()
    for row in rows:
        at = f"BEHAVIOURS.md:{row.line} ({row.id})"
        if not ID.match(row.id):
            problems.append(f"{at}: the id is not a letter and a number like A1 or R11")
        if row.id in seen:
            problems.append(f"{at}: a second row for this id")
        seen.add(row.id)
        for reference in _named(row.where) + _named(row.modules) + _named(row.tests):
            why = _problems_with(reference, routes, functions)
            if why is not None:
                problems.append(f"{at}: `{reference}` {why}")
        tests = _named(row.tests)
        for test in tests:
            if not re.match(r"^tests/.+/test_[a-z0-9_]+\.py$", test):
                problems.append(f"{at}: `{test}` in the tests column is not a test file")
        if row.where.startswith("not built yet"):
            if not NOT_BUILT.fullmatch(row.where):
                problems.append(f'{at}: say "not built yet (issue N)" and nothing else')
            if row.modules or row.tests:
                problems.append(f"{at}: a behaviour not built yet names modules or tests")
            continue
        if not tests:
            problems.append(f'{at}: no test file named (say "not built yet (issue N)" if it is not built)')
        if not _named(row.where):
            problems.append(f"{at}: no route or function named")
        if not _named(row.modules):
            problems.append(f"{at}: no module named")
        if row.where.startswith("partly") and not NOT_BUILT.search(row.where):
            problems.append(f'{at}: a partly built behaviour says what is "not built yet (issue N)"')
    assert not problems, "docs/BEHAVIOURS.md:\n" + "\n".join(problems)


def _product_md() -> Path:
    return Path(os.environ.get("PRODUCT_MD") or ROOT.parent / "shared" / "PRODUCT.md")


def test_every_behaviour_id_of_product_md_has_a_row() -> None:
    product = _product_md()
    if not product.is_file():
        pytest.skip(
            f"{product} is absent (a clone without ../shared): the ids cannot be compared; "
            "the rows themselves are checked by test_every_row_names_real_places_and_its_tests"
        )
    ids = PRODUCT_ID.findall(product.read_text())
    assert ids, f"{product}: no behaviour ids (**A1 ...**) found: has its format changed?"
    rows = {row.id for row in _rows()}
    missing = sorted(set(ids) - rows)
    stale = sorted(rows - set(ids))
    assert not missing, f"ids of {product} without a row in docs/BEHAVIOURS.md: {', '.join(missing)}"
    assert not stale, f"rows of docs/BEHAVIOURS.md for ids {product} does not have: {', '.join(stale)}"

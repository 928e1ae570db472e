"""The local pages in headless Chromium (browser.py). One stack for these modules, on make
run's sample program (tiers, rewards, ways to earn to show); one browser for the session,
its cookies cleared before each test. A failing test leaves a screenshot of the page it was
on in ``.local/browser-failures/``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bridge_local.__main__ import sample_program_json
from bridge_local.stack import LocalStackProcess
from tests.acceptance.pages.browser import Browser, missing

ROOT = Path(__file__).resolve().parents[3]
FAILURES = ROOT / ".local" / "browser-failures"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


_FAILED = pytest.StashKey[bool]()


@pytest.fixture(scope="session")
def stack(local_stack_factory: Callable[..., LocalStackProcess]) -> LocalStackProcess:
    return local_stack_factory(params={"EarnRulesJson": sample_program_json()})


@pytest.fixture(scope="session")
def _chromium(stack: LocalStackProcess) -> Iterator[Browser]:
    why = missing()
    if why:
        pytest.fail(why)
    chromium = Browser(stack.base_url)
    try:
        yield chromium
    finally:
        chromium.quit()


@pytest.fixture
def browser(_chromium: Browser, request: pytest.FixtureRequest) -> Iterator[Browser]:
    _chromium.reset()
    yield _chromium
    if request.node.stash.get(_FAILED, False):
        shot = FAILURES / f"{request.node.name}.png"
        _chromium.screenshot(shot)
        print(f"screenshot of the failing page: {shot}")

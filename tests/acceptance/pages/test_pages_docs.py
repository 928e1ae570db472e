"""``/docs`` in a browser: Swagger UI renders every operation of openapi.yaml, and every
asset the page loads comes from the local stack (no CDN, works offline)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bridge_local.stack import LocalStackProcess
from tests.acceptance.pages.browser import Browser

ROOT = Path(__file__).resolve().parents[3]
METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def operations() -> list[tuple[str, str]]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "openapi.yaml").read_text(encoding="utf-8"))
    return sorted(
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    )


def test_the_docs_page_renders_every_operation_from_local_assets(
    browser: Browser, stack: LocalStackProcess
) -> None:
    browser.open("/docs")
    expected = operations()
    browser.wait_for("the operations", lambda: len(browser.all(".opblock")) >= len(expected))
    shown = sorted(
        (
            block.find_element("css selector", ".opblock-summary-method").text,
            block.find_element("css selector", ".opblock-summary-path").get_attribute("data-path"),
        )
        for block in browser.all(".opblock")
    )
    assert shown == expected
    assert "loyalty-bridge" in browser.find(".info .title").text
    loaded: list[str] = browser.driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert any(url.endswith("/docs/assets/swagger-ui-bundle.js") for url in loaded)
    assert any(url.endswith("/docs/openapi.yaml") for url in loaded)
    assert all(url.startswith(stack.base_url + "/") for url in loaded), loaded

"""Headless Chromium for the page tests: Debian's ``chromium`` and ``chromium-driver``
(``make browser`` installs them), driven with selenium. Never a downloaded browser: the
binary and the driver are given by path, so Selenium Manager is not asked for anything."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
)
WAIT_SECONDS = 30.0
os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager, should anything ask it: no downloads


def missing() -> str | None:
    """Why the browser cannot start, or None."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            return f"{path} is missing: run `make browser` (apt-get install -y chromium chromium-driver)"
    return None


class Browser:
    """One headless Chromium with a fresh, empty profile; ``base_url`` is the local stack's."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._profile = tempfile.mkdtemp(prefix="bridge-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in (*FLAGS, f"--user-data-dir={self._profile}"):
            options.add_argument(flag)
        self.driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
        self.driver.set_page_load_timeout(WAIT_SECONDS)

    def quit(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self._profile, ignore_errors=True)

    def reset(self) -> None:
        """A new visitor: no cookies of the last test."""
        self.driver.delete_all_cookies()

    def open(self, path: str) -> None:
        self.driver.get(self.base_url + path)

    @property
    def path(self) -> str:
        url: str = self.driver.current_url
        return url.removeprefix(self.base_url)

    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def all(self, css: str) -> list[WebElement]:
        return list(self.driver.find_elements(By.CSS_SELECTOR, css))

    def text(self, element_id: str) -> str:
        return str(self.find(f"#{element_id}").text).strip()

    def number(self, element_id: str) -> int:
        return int(self.text(element_id))

    def fill(self, form_css: str, fields: dict[str, str]) -> None:
        for name, value in fields.items():
            element = self.find(f"{form_css} [name='{name}']")
            element.clear()
            element.send_keys(value)

    def choose(self, css: str) -> None:
        """Tick a radio button or checkbox (no navigation)."""
        self.find(css).click()

    def click(self, css: str) -> None:
        """Press a button that posts a form, and wait for the page it leads to.

        The page being left is marked with a global of its own window; the next page has a
        fresh one. No handle to an element of the old page is kept: asking Chromium about a
        node while its document is being replaced can fail with an inspector error ("Node
        with given id does not belong to the document") instead of a stale element."""
        self.driver.execute_script("window.__bridgeLeaving = true;")
        self.find(css).click()
        WebDriverWait(self.driver, WAIT_SECONDS, ignored_exceptions=(WebDriverException,)).until(
            lambda driver: driver.execute_script(
                "return window.__bridgeLeaving !== true && document.readyState === 'complete'"
            )
        )

    def submit(self, form_css: str, fields: dict[str, str] | None = None) -> None:
        self.fill(form_css, fields or {})
        self.click(f"{form_css} button[type='submit']")

    def wait_for(self, what: str, found: Callable[[], bool], *, reload: bool = False) -> None:
        """Until ``found()`` (reloading the page between looks when asked)."""
        deadline = time.monotonic() + WAIT_SECONDS
        while not found():
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not seen within {WAIT_SECONDS}s on {self.path}")
            time.sleep(0.2)
            if reload:
                self.driver.refresh()

    def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(path))

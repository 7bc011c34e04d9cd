"""
A person in a web browser, for end-to-end tests of the chat page: Debian's
chromium, headless, driven through its chromedriver by Selenium (both
installed from Debian when missing, as the other real programs the tests use).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

from tests.debian import debian_program
from tests.processes import TIMEOUT


class Browser:
    """One headless chromium with one tab on the chat page."""

    def __init__(self, url: str, width: int = 1100, height: int = 700, trust_any_certificate: bool = False) -> None:
        options = webdriver.ChromeOptions()
        options.binary_location = debian_program("chromium")
        for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                         "--no-first-run", "--disable-extensions", f"--window-size={width},{height}",
                         "--force-prefers-reduced-motion", "--lang=en-US"):
            options.add_argument(argument)
        if trust_any_certificate:  # a test's self-signed certificate
            options.add_argument("--ignore-certificate-errors")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        service = Service(executable_path=debian_program("chromedriver", "chromium-driver"))
        self.driver = webdriver.Chrome(options=options, service=service)
        self.driver.set_window_size(width, height)
        self.driver.get(url)

    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def all(self, css: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def run(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def wait(self, condition: Callable[[], Any], what: str, timeout: float = TIMEOUT) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                result = condition()
            except Exception:  # the page may be between two states
                result = None
            if result:
                return result
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; the page shows:\n{self.log_text()}\n"
                             f"console: {self.console()}")

    def log_text(self) -> str:
        """What the current window's pane shows, line by line."""
        return self.run("const p = [...document.querySelectorAll('#log .pane')].find(p => !p.hidden);"
                        "return p ? p.innerText : document.body.innerText;")

    def wait_for_text(self, needle: str, timeout: float = TIMEOUT) -> None:
        self.wait(lambda: needle in self.log_text(), repr(needle), timeout)

    def console(self) -> list[str]:
        try:
            return [entry["message"] for entry in self.driver.get_log("browser")]
        except Exception:
            return []

    def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(path))

    def close(self) -> None:
        self.driver.quit()

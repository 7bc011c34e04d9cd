"""The tests say which Debian package they install, before they install it (issue 28)."""

from __future__ import annotations

import io
import subprocess
from typing import Any

import pytest

from tests import debian


def test_a_missing_program_is_named_before_its_package_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    said = io.StringIO()
    steps: list[str] = []
    monkeypatch.setattr(debian.sys, "__stderr__", said)
    monkeypatch.setattr(debian.os, "geteuid", lambda: 0)
    monkeypatch.setattr(debian.os.path, "exists", lambda path: bool(steps))

    def run(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        steps.append(f"said {said.getvalue()!r} before: {' '.join(command)}")
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(debian.subprocess, "run", run)
    monkeypatch.setattr(debian.shutil, "which",
                        lambda program: f"/usr/bin/{program}" if steps or program == "apt-get" else None)
    assert debian.debian_program("chromedriver", "chromium-driver") == "/usr/bin/chromedriver"
    assert len(steps) == 1 and "installing chromium-driver from Debian's packages" in steps[0], steps
    assert steps[0].endswith("apt-get install -y -q --no-install-recommends chromium-driver")

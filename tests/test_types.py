"""
The code type-checks: mypy (with mypy-zope, for the interfaces), run with the
project's own settings (pyproject.toml), on the package and the plugin.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_passes_with_the_projects_settings(tmp_path: Path) -> None:
    # Its cache goes to the test's directory: tests leave nothing in the checkout.
    done = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "--cache-dir", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"mypy found problems:\n{done.stdout}{done.stderr}"
    assert "Success" in done.stdout

"""The plugin is packaged: after a normal, non-editable `pip install .`, twistd finds `chat`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.processes import ROOT, TIMEOUT, TWISTD, ServerProcess, WireClient


def test_plugin_found_after_non_editable_install(tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
         "--target", str(target), str(ROOT)],
        check=True, timeout=300, cwd=tmp_path,
    )
    assert (target / "twisted" / "plugins" / "chat_plugin.py").exists()
    assert not (target / "twisted" / "__init__.py").exists(), "twisted/ must stay a namespace"
    assert not (target / "twisted" / "plugins" / "__init__.py").exists()
    for page_file in ("index.html", "app.js", "connection.js", "style.css", "favicon.svg"):
        assert (target / "chat" / "static" / page_file).exists(), f"the web page's {page_file} is not installed"
    # Only the installed copy is importable: the checkout is not on the path.
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(target), "HOME": str(tmp_path)}
    help_text = subprocess.run(TWISTD + ["--help"], env=env, cwd=tmp_path, capture_output=True, timeout=TIMEOUT)
    assert b" chat " in help_text.stdout, help_text.stdout.decode()
    where = subprocess.run([sys.executable, "-c", "import chat; print(chat.__file__)"],
                           env=env, cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT)
    assert where.stdout.startswith(str(target)), where
    server = ServerProcess(tmp_path, env=env)
    try:
        WireClient(server.host, server.port).logon("installed")
    finally:
        server.kill()

"""
A client written from docs/protocol.md alone (examples/minimal_client.py,
standard library only, by someone who read nothing else) chats through the
real server with our own client.
"""

from __future__ import annotations

import subprocess
import sys

from tests.processes import ROOT, TIMEOUT, ServerProcess, WireClient


def test_client_written_from_the_doc_chats(server: ServerProcess) -> None:
    bob = WireClient(server.host, server.port).logon("bob")
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "minimal_client.py"), server.host, str(server.port), "docuser"],
        input="hello from the doc\nsecond line\n".encode(), capture_output=True, timeout=TIMEOUT, check=False,
    )
    assert result.returncode == 0, result
    assert "[lobby] <docuser> hello from the doc" in result.stdout.decode()
    got = bob.recv_until(lambda m: m["code"] == 2)
    assert [m["text"] for m in got if m["code"] == 5] == ["hello from the doc", "second line"]
    assert got[-1]["text"] == "docuser has quit"

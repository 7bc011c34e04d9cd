"""
A controller for irctest (github.com/progval/irctest), the public IRC
conformance suite: it runs this checkout's server, IRC front end on, for
each test.  From an irctest checkout (its own virtualenv), with this
checkout on the path and the chat's Python named by CHAT_PYTHON:

    CHAT_PYTHON=/path/to/venv/bin/python PYTHONPATH=/path/to/chat \\
        python -m pytest --controller tests.irctest_controller -m 'not deprecated' irctest/server_tests

Accounts are the server's own (REGISTER, NickServ, SASL PLAIN): a test
that registers an account gets one through C{chat-accounts}, as an
operator would make it.  Not a test module of ours: it needs irctest.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from irctest.basecontrollers import BaseServerController, DirectoryBasedController, NotImplementedByController

ROOT = Path(__file__).resolve().parent.parent


class ChatController(BaseServerController, DirectoryBasedController):
    software_name = "chat"
    supported_sasl_mechanisms = {"PLAIN"}
    supports_sts = False
    nickserv = "NickServ"

    def _python(self) -> str:
        return os.environ.get("CHAT_PYTHON", sys.executable)

    def _env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}

    def run(self, hostname: str, port: int, *, password: str | None, ssl: bool, run_services: bool,
            faketime: str | None, websocket_hostname: str | None, websocket_port: int | None, **_: Any) -> None:
        if websocket_hostname is not None or websocket_port is not None:
            raise NotImplementedByController("Websocket")
        if ssl:
            raise NotImplementedByController("TLS")
        if password is not None:
            raise NotImplementedByController("a server password (PASS is an account's password here)")
        assert self.proc is None
        self.hostname, self.port = hostname, port
        self.create_config()
        assert self.directory is not None
        self.data_dir = self.directory / "chat-data"
        self.proc = self.execute(
            [self._python(), "-c", "from twisted.scripts.twistd import run; run()", "-n", "--pidfile=", "chat",
             "--endpoint", "tcp:0:interface=127.0.0.1", "--irc-endpoint", f"tcp:{port}:interface={hostname}",
             "--data-dir", str(self.data_dir), "--flood-rate", "0", "--min-password-length", "1"],
            env=self._env(), cwd=self.directory)

    def wait_for_services(self) -> None:
        """NickServ is the server's own: up when the server is."""
        self.wait_for_port()

    def registerUser(self, case: Any, username: str, password: str | None = None) -> None:
        """An account, made as the operator makes one (chat-accounts), the server running."""
        assert password is not None
        self.wait_for_port()
        done = subprocess.run([self._python(), "-m", "chat.accounttool", "--data-dir", str(self.data_dir),
                               "--min-password-length", "1", "add", username],
                              input=password + "\n", text=True, env=self._env(), timeout=60, capture_output=True)
        if done.returncode:
            raise AssertionError(f"chat-accounts could not add {username}: {done.stdout} {done.stderr}")


def get_irctest_controller_class() -> type[ChatController]:
    return ChatController

"""
A program in a tmux window, typed at and read as a person would: keys go in
with C{send-keys}, the screen comes out with C{capture-pane}.  Each program
gets a tmux server of its own (C{-L}), so tests never see each other's
windows or a developer's own tmux.
"""

from __future__ import annotations

import os
import secrets
import shlex
import subprocess
import tempfile
import time

from tests.debian import debian_program
from tests.processes import TIMEOUT, source_env


class TmuxProgram:
    def __init__(self, argv: list[str], cols: int = 120, rows: int = 30) -> None:
        self.tmux = debian_program("tmux")
        self.socket = f"chat-test-{secrets.token_hex(4)}"
        # tmux may see the terminal close before it learns the exit status: the shell writes it down.
        fd, self.status_file = tempfile.mkstemp(prefix="tmux-status-")
        os.close(fd)
        command = f"{shlex.join(argv)}; echo $? > {shlex.quote(self.status_file)}.new; " \
                  f"mv {shlex.quote(self.status_file)}.new {shlex.quote(self.status_file)}; sleep 3600"
        self._run("new-session", "-d", "-s", "main", "-x", str(cols), "-y", str(rows), command)

    def _run(self, *args: str) -> str:
        done = subprocess.run([self.tmux, "-L", self.socket, *args], env=source_env(TERM="xterm"),
                              capture_output=True, text=True, timeout=TIMEOUT, check=False)
        if done.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def type(self, text: str) -> None:
        """Type C{text}; a trailing CR is the Enter key."""
        enter = text.endswith("\r")
        if text.rstrip("\r"):
            self._run("send-keys", "-t", "main", "-l", text.rstrip("\r"))
        if enter:
            self._run("send-keys", "-t", "main", "Enter")

    def text(self) -> str:
        """The window and its scrollback, as shown."""
        return self._run("capture-pane", "-t", "main", "-p", "-J", "-S", "-2000")

    def wait_for(self, needle: str, timeout: float = TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.text():
                return
            time.sleep(0.05)
        raise AssertionError(f"{needle!r} never appeared in the tmux window:\n{self.text()}")

    def wait_exit(self, timeout: float = TIMEOUT) -> int:
        """The program's exit status, once it has exited."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.status_file) as f:
                status = f.read().strip()
            if status:
                return int(status)
            time.sleep(0.05)
        raise AssertionError(f"the program did not exit:\n{self.text()}")

    def close(self) -> None:
        subprocess.run([self.tmux, "-L", self.socket, "kill-server"], capture_output=True, timeout=TIMEOUT,
                       check=False)
        os.unlink(self.status_file)

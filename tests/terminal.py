"""
A person at a terminal, for end-to-end tests of the client: the program runs
on a pseudo-terminal of a given size, keys go in, and what it draws is
interpreted by pyte (a VT100 emulator) into a screen the test can read.
"""

from __future__ import annotations

import fcntl
import os
import signal
import struct
import subprocess
import termios
import threading
import time

import pyte

from tests.processes import TIMEOUT, source_env


class PtyProgram:
    def __init__(self, argv: list[str], cols: int = 100, rows: int = 30) -> None:
        self.screen = pyte.Screen(cols, rows)
        self.stream = pyte.ByteStream(self.screen)
        self.raw = b""
        self._lock = threading.Lock()
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("hhhh", rows, cols, 0, 0))
        self.saved_modes = termios.tcgetattr(slave)
        self.master, self.slave = master, slave
        self.process = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=source_env(TERM="xterm"),
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            with self._lock:
                self.raw += data
                self.stream.feed(data)

    def resize(self, cols: int, rows: int) -> None:
        """The person makes the window another size: the program gets SIGWINCH."""
        with self._lock:
            self.screen.resize(rows, cols)
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("hhhh", rows, cols, 0, 0))
        os.kill(self.process.pid, signal.SIGWINCH)

    def type(self, text: str) -> None:
        os.write(self.master, text.encode("utf-8"))

    def lines(self) -> list[str]:
        with self._lock:
            return list(self.screen.display)

    def text(self) -> str:
        return "\n".join(self.lines())

    def wait_for(self, needle: str, timeout: float = TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.text():
                return
            time.sleep(0.02)
        raise AssertionError(f"{needle!r} never appeared on the screen:\n{self.text()}")

    def cursor(self) -> tuple[int, int]:
        with self._lock:
            return self.screen.cursor.x, self.screen.cursor.y

    def row_of(self, needle: str) -> int:
        for y, line in enumerate(self.lines()):
            if needle in line:
                return y
        raise AssertionError(f"{needle!r} not on screen:\n{self.text()}")

    def char_at(self, x: int, y: int) -> pyte.screens.Char:
        with self._lock:
            return self.screen.buffer[y][x]

    def wait_exit(self, timeout: float = TIMEOUT) -> int:
        code = self.process.wait(timeout)
        self._reader.join(2)
        return code

    def modes_restored(self) -> bool:
        return termios.tcgetattr(self.slave) == self.saved_modes

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(TIMEOUT)
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass

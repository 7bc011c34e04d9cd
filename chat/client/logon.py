"""
The seed's logon form (Server, Nickname, Port number) as a pure question
sequence: each UI shows C{prompt()} and feeds the answer to C{answer()}.
"""

from __future__ import annotations

import re

from chat.message import BASE_PORT, MAX_PORT_NUMBER
from chat.names import ChatError, check_nick

_HOST = re.compile(r"[A-Za-z0-9._:\-\[\]]+")


def check_server(text: str) -> str:
    text = text.strip()
    if not _HOST.fullmatch(text):
        raise ValueError("a server is a host name or an IP address, e.g. localhost or 192.168.1.10")
    return text


_HOST_AND_PORT = re.compile(r"\[(?P<v6>[^\]]+)\]:(?P<v6port>\d+)|(?P<host>[^:\[\]]+):(?P<port>\d+)")


def split_server(text: str) -> tuple[str, int | None]:
    """
    A server as C{HOST}, or as C{HOST:PORT} with a whole TCP port (an IPv6
    address in brackets: C{[::1]:6000}): the host, and the port if given.
    """
    match = _HOST_AND_PORT.fullmatch(text.strip())
    if match is None:
        return check_server(text), None
    host, port = match["v6"] or match["host"], int(match["v6port"] or match["port"])
    if not 1 <= port <= 65535:
        raise ValueError(f"a TCP port is from 1 to 65535; {port} is not")
    return check_server(host), port


def tcp_port(values: dict[str, object]) -> int:
    """The server's TCP port: the one given with its host (HOST:PORT), else 1500 + the port number."""
    given = values.get("tcp_port")
    return int(given) if given is not None else BASE_PORT + int(values["port"])  # type: ignore[call-overload]


def check_port_number(text: str) -> int:
    try:
        n = int(text.strip())
    except ValueError:
        raise ValueError(f"the port number is a whole number from 0 to {MAX_PORT_NUMBER}") from None
    if not 0 <= n <= MAX_PORT_NUMBER:
        raise ValueError(f"the port number is from 0 to {MAX_PORT_NUMBER} (the server listens on {BASE_PORT}+N)")
    return n


def checked_nick(text: str) -> str:
    try:
        return check_nick(text.strip())
    except ChatError as e:
        raise ValueError(e.text) from None


class LogonForm:
    """Asks only for what the command line did not give."""

    QUESTIONS = (
        ("server", "Server", "localhost", check_server),  # HOST, or HOST:PORT
        ("nick", "Nickname", None, checked_nick),
        ("port", "Port number", "0", check_port_number),
    )

    def __init__(self, **given: object) -> None:
        self.values: dict[str, object] = {k: v for k, v in given.items() if v is not None}
        if "server" in self.values:
            self._take_server(str(self.values["server"]))

    def _take_server(self, text: str) -> None:
        """A server, maybe as HOST:PORT: then its port is known, and the port number is not asked."""
        host, port = split_server(text)
        self.values["server"] = host
        if port is not None:
            self.values["tcp_port"] = port

    def _next(self) -> tuple[str, str, str | None, object] | None:
        for question in self.QUESTIONS:
            key = question[0]
            if key not in self.values and not (key == "port" and "tcp_port" in self.values):
                return question
        return None

    def prompt(self) -> str | None:
        """The next question, or None when the form is complete."""
        question = self._next()
        if question is None:
            return None
        _, label, default, _ = question
        return f"{label} [{default}]: " if default is not None else f"{label}: "

    def answer(self, text: str) -> str | None:
        """Take an answer; return why it was refused, or None."""
        question = self._next()
        assert question is not None, "the form is complete"
        key, _, default, check = question
        if not text.strip() and default is not None:
            text = default
        try:
            if key == "server":
                self._take_server(text)
            else:
                self.values[key] = check(text)  # type: ignore[operator]
        except ValueError as e:
            return str(e)
        return None

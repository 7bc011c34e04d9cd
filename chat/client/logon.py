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
        ("server", "Server", "localhost", check_server),
        ("nick", "Nickname", None, checked_nick),
        ("port", "Port number", "0", check_port_number),
    )

    def __init__(self, **given: object) -> None:
        self.values: dict[str, object] = {k: v for k, v in given.items() if v is not None}

    def _next(self) -> tuple[str, str, str | None, object] | None:
        for question in self.QUESTIONS:
            if question[0] not in self.values:
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
            self.values[key] = check(text)  # type: ignore[operator]
        except ValueError as e:
            return str(e)
        return None

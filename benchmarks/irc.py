"""
The IRC adapter: the same benchmark clients against an IRC server.

NICK/USER (PASS first where the server wants one), JOIN #lobby (or the
client's room), PRIVMSG to it.  A delivery is a PRIVMSG line received; IRC servers do not send a
channel message back to its sender, so N clients get N-1 deliveries of each
message where our server gives N (the report says so).  Senders on ngIRCd
become IRC operators and set user mode +F, its relaxed flood protection.
"""

from __future__ import annotations

from collections.abc import Sequence

from benchmarks.dialect import ROOM, Dialect, Stage, Unit

#: Numerics that refuse a step of our setup: bad or taken nickname, bad
#: password, banned, cannot join, no operator rights.
_REFUSALS = frozenset({"403", "405", "432", "433", "436", "437", "451", "461", "464", "465",
                       "471", "473", "474", "475", "481", "491"})


def _command(line: str) -> tuple[str, list[str]]:
    """The command (or numeric) of a line and its parameters, prefix dropped."""
    if line.startswith(":"):
        line = line.split(" ", 1)[1] if " " in line else ""
    if " :" in line:
        head, trailing = line.split(" :", 1)
        parts = head.split()
        parts.append(trailing)
    else:
        parts = line.split()
    return (parts[0].upper(), parts[1:]) if parts else ("", [])


class IrcDialect(Dialect):
    echoes = False
    framed = False

    def __init__(self, name: str, password: str | None = None,
                 oper: tuple[str, str] | None = None) -> None:
        self.name = name
        self.password = password
        self.oper = oper

    def stages(self, nick: str, join: bool, sender: bool, room: str = ROOM) -> Sequence[Stage]:
        logon = f"NICK {nick}\r\nUSER {nick} 0 * :chat benchmark\r\n"
        if self.password is not None:
            logon = f"PASS {self.password}\r\n" + logon
        stages = [Stage(logon.encode(), lambda line: _command(line)[0] == "001")]
        if sender and self.oper is not None:
            name, password = self.oper
            stages.append(Stage(
                f"OPER {name} {password}\r\nMODE {nick} +F\r\n".encode(),
                lambda line: _is_mode_f(line, nick),
            ))
        if join:
            stages.append(Stage(f"JOIN #{room}\r\n".encode(), lambda line: _command(line)[0] == "366"))
        return stages

    def split(self, buffer: bytes) -> tuple[list[Unit], bytes]:
        end = buffer.rfind(b"\n") + 1
        lines = [raw.rstrip(b"\r").decode("utf-8", "replace") for raw in buffer[:end].split(b"\n")[:-1]]
        return lines, buffer[end:]

    def refusal(self, unit: Unit) -> str | None:
        command, _ = _command(unit)
        if command == "ERROR" or command in _REFUSALS:
            return unit
        return None

    def answer(self, unit: Unit) -> bytes | None:
        command, params = _command(unit)
        if command == "PING":
            return f"PONG :{params[-1] if params else ''}\r\n".encode()
        return None

    def messages(self, texts: Sequence[bytes], room: str = ROOM) -> bytes:
        head = b"PRIVMSG #" + room.encode() + b" :"
        return b"".join(head + text + b"\r\n" for text in texts)


def _is_mode_f(line: str, nick: str) -> bool:
    command, params = _command(line)
    return command == "MODE" and len(params) >= 2 and params[0] == nick and "F" in params[1]

"""
The client's logic, apart from any terminal: what to send for each command,
what each received message means for the session (nick, rooms, current
room), and what to show.  UIs implement L{View}.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import Any, Protocol

from twisted.internet.interfaces import IReactorTime

from chat.client.asking import Asking
from chat.client import commands
from chat.client.actions import ACTIONS, Actions
from chat.client.incoming import Incoming
from chat.client.protocol import ChatClientProtocol
from chat.client.render import Event, sanitize
from chat.message import DEFAULT_ROOM, CMsg, Code
from chat.names import fold

#: Seconds of silence from the server, after /quit, before leaving without its goodbye.  The
#: goodbye comes once the server has read every line sent before the quit (which flood control
#: may make it read slowly): each frame that arrives meanwhile starts the wait again.
QUIT_GRACE = 10.0


class Phase(Enum):
    """Where the client's connection stands (the status line shows the value)."""

    CONNECTING = "connecting"
    VERIFYING = "verifying the server (TLS)"
    CONNECTED = "connected"
    LOGGED_ON = "logged on"
    RECONNECTING = "reconnecting"
    DISCONNECTED = "disconnected"
    NOT_CONNECTED = "not connected"


#: The moves each phase may make; any other is a bug (L{ChatClient.move} refuses it).
MOVES: dict[Phase, frozenset[Phase]] = {
    Phase.CONNECTING: frozenset({Phase.VERIFYING, Phase.CONNECTED, Phase.NOT_CONNECTED}),
    # A TLS server may answer the logon before the handshake is verified.
    Phase.VERIFYING: frozenset({Phase.CONNECTED, Phase.LOGGED_ON, Phase.RECONNECTING, Phase.DISCONNECTED}),
    Phase.CONNECTED: frozenset({Phase.LOGGED_ON, Phase.RECONNECTING, Phase.DISCONNECTED}),
    Phase.LOGGED_ON: frozenset({Phase.RECONNECTING, Phase.DISCONNECTED}),
    Phase.RECONNECTING: frozenset({Phase.VERIFYING, Phase.CONNECTED}),
    Phase.DISCONNECTED: frozenset(),
    Phase.NOT_CONNECTED: frozenset(),
}


class View(Protocol):
    def show(self, event: Event) -> None: ...

    def status_changed(self) -> None: ...

    def ask_nickname(self) -> None:
        """The nickname was refused: get another one into C{line_entered}."""

    def ask_password(self, prompt: str = "Password") -> None:
        """A password (not echoed) into C{line_entered}: the registered nickname's, or as C{prompt} says."""

    def finish(self, code: int) -> None:
        """End the program with exit status C{code}."""


class ChatClient(Incoming, Actions):
    def __init__(self, view: View, reactor: IReactorTime, nick: str, room: str = DEFAULT_ROOM,
                 color: str = "default", reconnect: bool = False, password: str | None = None,
                 highlights: Sequence[str] = (), also: Sequence[str] = ()) -> None:
        self.view = view
        self.highlights = list(highlights)  # words besides one's nickname that mark a line
        self.password = password
        #: What the next line typed answers, if the client asked for something.
        self.asking = Asking.NOTHING
        self._renaming_to: str | None = None  # a /nick the server has not answered yet
        self._renamed: tuple[str | None, str] | None = None  # the last rename shown
        self.reactor = reactor
        self.nick = nick
        self.color = color
        self.reconnect = reconnect
        self.connection: ChatClientProtocol | None = None
        self.rooms: list[str] = []
        self.current: str | None = None
        self.members: dict[str, dict[str, str]] = {}  # per room (folded): who is in it, for TAB
        self._older: set[str] = set()  # rooms (folded) whose older history was asked for by scrolling back
        self.query: str | None = None  # /query NICK: plain lines go to NICK alone
        self._rejoin: list[str] = [room, *(r for r in also if fold(r) != fold(room))]  # joined at logon
        self._switch_to: str | None = room
        self.quitting = False
        self.said_goodbye = False  # the server answered our quit: everything before it was taken
        self._quit_timer: Any = None
        self._quit_deadline = 0.0
        self.frames_sent = 0
        self.server_closing = False
        self.phase = Phase.CONNECTING
        self.finished = False
        # Per room (folded name): the newest and oldest message ids shown, so
        # that history is fetched after a reconnect and never shown twice.
        self.newest: dict[str, int] = {}
        self.oldest: dict[str, int] = {}
        self.seen: dict[str, set[int]] = {}
        # The first frames of a list too long for one ("more": true), by code and room.
        self._list_parts: dict[tuple[int, str | None], list[str]] = {}
        self._last_history_id: dict[str, int] = {}
        # The password goes out only once the server asks for it.
        self._password_sent = False
        # /password: the current password, while the new one is asked for.
        self._changing_from: str | None = None
        # What the person typed before logon and the first join completed:
        # sent, in order, once they have (None stands for a quit).
        self._pending: list[str | None] = []

    def fetch_older(self, room: str) -> bool:
        """Scrolled back past the top of a room's window: ask for the page before the oldest line shown."""
        key = fold(room)
        oldest = self.oldest.get(key)
        if key in self._older or oldest is None or oldest <= 1 or room not in self.rooms:
            return False
        self._older.add(key)
        return self._send(CMsg(Code.HISTORY, room=room, before=oldest, limit=50))

    def complete(self, line: str, cursor: int) -> tuple[str, int, list[str]]:
        """TAB in the input line: nicknames of the current room, commands, rooms (L{commands.complete})."""
        nicks = list(self.members.get(fold(self.current), {}).values()) if self.current else []
        return commands.complete(line, cursor, [n for n in nicks if not self._is_me(n)], self.rooms)

    def status(self) -> str:
        """The status line; nick and room come from the server, so they are sanitised."""
        return sanitize(self._status())

    def _status(self) -> str:
        room = self.current or "no room"
        others = len(self.rooms) - (1 if self.current else 0)
        if others > 0:
            room += f" (and {others} other room{'s' if others > 1 else ''})"
        if self.query is not None:
            room = f"to {self.query} alone, not {room}"
        return f" {self.nick} | {room} | {self.phase.value} "

    @property
    def logged_on(self) -> bool:
        return self.phase is Phase.LOGGED_ON

    @property
    def asking_nick(self) -> bool:
        return self.asking is Asking.NICKNAME

    @property
    def asking_password(self) -> bool:
        return self.asking is Asking.PASSWORD

    def move(self, phase: Phase) -> None:
        """The connection moves to C{phase}: only along L{MOVES}."""
        if phase not in MOVES[self.phase]:
            raise ValueError(f"the client cannot go from {self.phase.name} to {phase.name}")
        self.phase = phase
        self.view.status_changed()

    def _send(self, msg: CMsg) -> bool:
        if self.connection is None:
            self.view.show(Event("error", "not connected"))
            return False
        self.connection.send(msg)
        self.frames_sent += 1
        return True

    def _finish(self, code: int) -> None:
        if not self.finished:
            self.finished = True
            self.view.finish(code)

    # -- from the connection -----------------------------------------------

    def connected(self, connection: ChatClientProtocol, verified: bool = True) -> None:
        self.connection = connection
        self.server_closing = False
        self._list_parts.clear()  # a list cut off by the old connection never gets its last frame
        self.move(Phase.CONNECTED if verified else Phase.VERIFYING)
        # A password given beforehand (CHAT_PASSWORD, --password-file, an earlier answer) goes with
        # the first logon where it stays secret (TLS already verified, or this machine); elsewhere,
        # only once the server asks for it, with a warning.
        if self.password and verified and connection.private():
            self._password_sent = True
        self._send_nick()

    def verified(self) -> None:
        """The TLS handshake verified the server (its logon answer may have come first)."""
        if self.phase is Phase.VERIFYING:
            self.move(Phase.CONNECTED)

    def _send_nick(self) -> None:
        """The nickname to log on with, or to rename to (with its password once the server asked for it)."""
        password = self.password if self._password_sent else None
        if password is not None and self.connection is not None and not self.connection.private():
            self.view.show(Event("error", "warning: your password goes to the server unencrypted "
                                          "(connect with --tls to keep it secret)"))
        self._send(CMsg(Code.SENDING_NICKNAME, text=self._renaming_to or self.nick, password=password))

    def disconnected(self, connection: ChatClientProtocol, why: str) -> None:
        if connection is not self.connection:
            return
        self.connection = None
        if self.logged_on:
            self._rejoin = list(self.rooms)
            self._switch_to = self.current
        self.rooms = []
        if self.quitting:
            if not self.said_goodbye:
                self.view.show(Event("error", f"the connection closed before the server took everything sent: {why}"))
            self._finish(0 if self.said_goodbye else 1)
            return
        if not self.server_closing:
            self.view.show(Event("error", f"connection lost: {why}"))
        if self.reconnect:
            self.move(Phase.RECONNECTING)
            return
        self.move(Phase.DISCONNECTED)
        self._finish(0 if self.server_closing else 1)

    def protocol_error(self, why: str) -> None:
        self.view.show(Event("error", why))

    def received(self, msg: CMsg) -> None:
        if (self._quit_timer is not None and self._quit_timer.active() and not self.said_goodbye
                and self.reactor.seconds() < self._quit_deadline):
            self._quit_timer.reset(QUIT_GRACE)  # the server is still working through what we sent
        handler = getattr(self, f"_on_{msg.code}", None)
        if handler is not None:
            handler(msg)

    def _is_me(self, nick: str | None) -> bool:
        return nick is not None and fold(nick) == fold(self.nick)

    def _on_4(self, msg: CMsg) -> None:  # SENDING_NICKNAME
        if msg.room is not None:
            in_room = self.members.get(fold(msg.room), {})
            if msg.nick is not None and in_room.pop(fold(msg.nick), None) is not None:
                in_room[fold(msg.text)] = msg.text
            # Each shared room announces a rename: it is shown once.
            if self._renamed != (msg.nick, msg.text):
                self._renamed = (msg.nick, msg.text)
                self.view.show(Event("event", f"{msg.nick} is now known as {msg.text}", room=msg.room))
            return
        self.nick = msg.text
        if self.asking is Asking.NICKNAME:
            self.asking = Asking.NOTHING
        self._renaming_to = None
        if not self.logged_on:
            self.move(Phase.LOGGED_ON)
            for room in self._rejoin:
                self.connection.send(CMsg(Code.JOINING_CHAT, room=room))  # type: ignore[union-attr]
        else:
            self.view.status_changed()

    def _on_1(self, msg: CMsg) -> None:  # JOINING_CHAT
        self.view.show(Event("event", msg.text, room=msg.room, nick=msg.nick, ts=msg.ts))
        if msg.room is not None and msg.nick is not None:
            self.members.setdefault(fold(msg.room), {})[fold(msg.nick)] = msg.nick
        if self._is_me(msg.nick) and msg.room is not None and msg.room not in self.rooms:
            self.rooms.append(msg.room)
            seen = self.newest.get(fold(msg.room))
            if seen is not None:
                # Back after a reconnect: everything said since the last line we saw.
                self._send(CMsg(Code.HISTORY, room=msg.room, after=seen, limit=200))
            if self.current is None or (self._switch_to and fold(self._switch_to) == fold(msg.room)):
                self.current = msg.room
                self._switch_to = None
            self.view.status_changed()
            self._flush_pending()

    def _on_2(self, msg: CMsg) -> None:  # LEAVING_CHAT
        if msg.close:
            self.said_goodbye = True  # the goodbye to our own /quit
            return
        self.view.show(Event("event", msg.text, room=msg.room, nick=msg.nick))
        if msg.room is not None and msg.nick is not None:
            self.members.get(fold(msg.room), {}).pop(fold(msg.nick), None)
        if self._is_me(msg.nick) and msg.room in self.rooms:
            self.rooms.remove(msg.room)
            if self.current == msg.room:
                self.current = self.rooms[-1] if self.rooms else None
            self.view.status_changed()

    def _on_8(self, msg: CMsg) -> None:  # ERROR
        self.view.show(Event("error", msg.text or msg.error or "error"))
        if msg.reply_to == Code.SENDING_NICKNAME and self.logged_on:  # a /nick refused
            if msg.error in ("password-required", "bad-password") and self._renaming_to is not None:
                self.asking = Asking.PASSWORD  # a registered nickname: its password is asked for
                self.view.ask_password()
            else:
                self._renaming_to = None
        elif msg.reply_to == Code.SENDING_NICKNAME and not self.logged_on:
            if msg.error == "password-required" and self.password and not self._password_sent:
                self._password_sent = True
                self._send_nick()
            elif msg.error in ("password-required", "bad-password", "try-later"):
                self.asking = Asking.PASSWORD
                self.view.ask_password()
            else:
                self.asking = Asking.NICKNAME
                self.view.ask_nickname()
        elif msg.reply_to == Code.JOINING_CHAT:
            self._switch_to = None
            self._flush_pending()

    # -- from the person ---------------------------------------------------

    def _ready(self) -> bool:
        """Logged on, and the last join asked for answered (a line typed after /join goes to that room)."""
        return self.connection is not None and self.logged_on and self._switch_to is None

    def _flush_pending(self) -> None:
        pending, self._pending = self._pending, []
        for line in pending:
            if line is None:
                self.quit()
            else:
                self.line_entered(line)

    def line_entered(self, line: str) -> None:
        """A line the person typed: the answer the client asked for, or a line of the chat."""
        asking, self.asking = self.asking, Asking.NOTHING
        if asking is Asking.PASSWORD:
            self._password_entered(line)
        elif asking in (Asking.NEW_PASSWORD, Asking.CURRENT_PASSWORD, Asking.CHANGED_PASSWORD):
            self._account_password_entered(asking, line)
        elif asking is Asking.NICKNAME:
            self._nick_entered(line)
        elif self._pending or not self._ready():
            self._hold(line)
        else:
            command = commands.parse(line)
            if command is not None:
                self.do(command)

    def _password_entered(self, line: str) -> None:
        if line.startswith("/") and not line.startswith("//"):
            # A command, not a password (one that starts with / is typed //).
            self._password_sent = False
            command = commands.parse(line)
            if isinstance(command, commands.Nick) and not self.logged_on:
                self.nick = command.nick
                self._send_nick()
            elif command is not None:
                self._renaming_to = None
                self.do(command)
            return
        self.password = line[1:] if line.startswith("//") else line
        self._password_sent = True
        self._send_nick()

    def _account_password_entered(self, asking: Asking, line: str) -> None:
        """A password for /register or /password; a command instead cancels it."""
        if line.startswith("/") and not line.startswith("//"):
            self._changing_from = None
            command = commands.parse(line)
            if command is not None:
                self.do(command)
            return
        password = line[1:] if line.startswith("//") else line
        if asking is Asking.NEW_PASSWORD:
            self._send(CMsg(Code.REGISTER, password=password))
        elif asking is Asking.CURRENT_PASSWORD:
            self._changing_from = password
            self.asking = Asking.CHANGED_PASSWORD
            self.view.ask_password("New password")
        else:
            current, self._changing_from = self._changing_from, None
            self._send(CMsg(Code.SET_PASSWORD, password=current, new_password=password))

    def _nick_entered(self, line: str) -> None:
        if line.strip():
            self.nick = line.strip()
            self._send_nick()
        else:
            self.asking = Asking.NICKNAME
            self.view.ask_nickname()

    def _hold(self, line: str) -> None:
        """A line typed before logon and the first join completed: kept, in order, until they have."""
        command = commands.parse(line)
        if isinstance(command, (commands.Help, commands.Color, commands.Invalid)):
            self.do(command)  # nothing to send: done at once
        elif isinstance(command, commands.Quit) and self.phase is Phase.RECONNECTING:
            self.quit(command.reason, now=True)  # the server is away: nobody to say goodbye to
        elif command is not None:
            self._pending.append(line)
            if self.phase is Phase.RECONNECTING:
                self.view.show(Event("info", f"queued until connected: {line}"))

    def do(self, command: commands.Command) -> None:
        """Carry out one command the person typed (L{chat.client.actions})."""
        getattr(self, ACTIONS[type(command)])(command)

    def quit(self, reason: str = "", now: bool = False) -> None:
        """
        Leave cleanly (/quit, Ctrl-D, Ctrl-C, end of input).  Unless C{now},
        a quit typed before logon completes waits behind the lines before it.
        """
        if self.quitting:
            return
        waiting = self.connection is not None and not self._ready()
        connecting = self.connection is None and self.phase is Phase.CONNECTING
        if not now and (self._pending or waiting or connecting):
            self._pending.append(None)
            return
        self.quitting = True
        if self.connection is None:
            self._finish(0)
            return
        self.connection.send(CMsg(Code.LEAVING_CHAT, close=True, text=reason))
        self._quit_timer = self.reactor.callLater(QUIT_GRACE, self._no_goodbye)
        # However busy the room, the wait ends: the server reads at least a line a second of what we sent.
        self._quit_deadline = self.reactor.seconds() + QUIT_GRACE + min(self.frames_sent, 600)

    def _no_goodbye(self) -> None:
        """The server fell silent after our quit: leave, saying it may not have taken everything."""
        if self.finished:
            return
        if self.said_goodbye:  # the goodbye came; the connection is slow to close
            self._finish(0)
            return
        self.view.show(Event("error", f"no goodbye from the server in {QUIT_GRACE:g} s: lines sent last may be lost"))
        self._finish(1)

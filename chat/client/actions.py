"""
What each command a person types does (L{chat.client.commands} parses
them): one method per command, looked up in L{ACTIONS}, so that no single
function decides them all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chat.client import commands
from chat.client.asking import Asking
from chat.client.render import Event
from chat.message import PALETTE, CMsg, Code
from chat.names import fold

if TYPE_CHECKING:
    from chat.client.app import View

#: The method of L{Actions} that carries out each kind of command.
ACTIONS: dict[type[Any], str] = {
    commands.Say: "_say", commands.Query: "_query", commands.Join: "_join", commands.Leave: "_leave",
    commands.Rooms: "_rooms", commands.Who: "_who", commands.Msg: "_msg", commands.Nick: "_nick",
    commands.Topic: "_topic", commands.Window: "_window", commands.Away: "_away", commands.Color: "_color",
    commands.Quit: "_quit", commands.History: "_history", commands.Help: "_help", commands.Invalid: "_invalid",
    commands.Register: "_register", commands.Identify: "_identify", commands.SetPassword: "_set_password",
}


class Actions:
    """The commands of a L{chat.client.app.ChatClient} (its state is the client's)."""

    view: View
    query: str | None
    current: str | None
    rooms: list[str]
    color: str
    oldest: dict[str, int]
    _switch_to: str | None
    _renaming_to: str | None
    _password_sent: bool
    _send: Callable[[CMsg], bool]
    _send_nick: Callable[[], None]
    asking: Asking
    password: str | None
    quit: Callable[[str], None]

    def _in_a_room(self) -> str | None:
        """The current room, or None after saying there is none."""
        if self.current is None:
            self.view.show(Event("error", "you are in no room: /join ROOM"))
        return self.current

    def _say(self, command: commands.Say) -> None:
        if self.query is not None:
            self._send(CMsg(Code.PRIVATE_MESSAGE, to=self.query, text=command.text, color=self.color,
                            action=command.action))
            return
        room = self._in_a_room()
        if room is not None:
            self._send(CMsg(Code.NORMAL_MESSAGE, room=room, text=command.text, color=self.color,
                            action=command.action))

    def _query(self, command: commands.Query) -> None:
        nick = self.query = command.nick
        show_conversation = getattr(self.view, "show_conversation", None)
        if nick and show_conversation is not None:
            show_conversation(nick)  # the full-screen client: that conversation's window, in front
        self.view.show(Event("info", f"what you type goes to {nick} alone; /query ends it" if nick
                             else f"what you type goes to {self.current or 'no room'} again"))
        self.view.status_changed()

    def _join(self, command: commands.Join) -> None:
        self.query = None
        joined = [r for r in self.rooms if fold(r) == fold(command.room)]
        if joined:
            self.current = joined[0]
            self.view.status_changed()
        elif self._send(CMsg(Code.JOINING_CHAT, room=command.room)):
            self._switch_to = command.room

    def _leave(self, command: commands.Leave) -> None:
        target = command.room or self.current
        if target is None:
            self.view.show(Event("error", "you are in no room"))
        else:
            self._send(CMsg(Code.LEAVING_CHAT, room=target))

    def _rooms(self, command: commands.Rooms) -> None:
        self._send(CMsg(Code.ROOM_LIST))

    def _who(self, command: commands.Who) -> None:
        target = command.room or self.current
        if target is None:
            self.view.show(Event("error", "usage: /who ROOM"))
        else:
            self._send(CMsg(Code.SENDING_CHATTERS_LIST, room=target))

    def _msg(self, command: commands.Msg) -> None:
        self._send(CMsg(Code.PRIVATE_MESSAGE, to=command.nick, text=command.text, color=self.color,
                        action=command.action))

    def _nick(self, command: commands.Nick) -> None:
        self._renaming_to = command.nick
        self._password_sent = False
        self._send_nick()

    def _can_ask_unseen(self, usage: str) -> bool:
        """Whether the view can take a password unseen; if not, say how to give it on the line."""
        if getattr(self.view, "hides_input", False):
            return True
        self.view.show(Event("error", f"type the password on the line: {usage}"))
        return False

    def _register(self, command: commands.Register) -> None:
        if command.password is not None:
            self._send(CMsg(Code.REGISTER, password=command.password))
        elif self._can_ask_unseen("/register PASSWORD"):
            self.asking = Asking.NEW_PASSWORD
            self.view.ask_password("New password")

    def _identify(self, command: commands.Identify) -> None:
        # Logging in to an account is taking its nickname with its password (asked for when not given).
        self._renaming_to = command.nick
        if command.password is not None:
            self.password, self._password_sent = command.password, True
        else:
            self._password_sent = False
        self._send_nick()

    def _set_password(self, command: commands.SetPassword) -> None:
        if command.current is not None and command.new is not None:
            self._send(CMsg(Code.SET_PASSWORD, password=command.current, new_password=command.new))
        elif self._can_ask_unseen("/password CURRENT NEW"):
            self.asking = Asking.CURRENT_PASSWORD
            self.view.ask_password("Current password")

    def _topic(self, command: commands.Topic) -> None:
        room = self._in_a_room()
        if room is not None:
            self._send(CMsg(Code.TOPIC, room=room, text=command.text))

    def _window(self, command: commands.Window) -> None:
        switch = getattr(self.view, "switch_window", None)
        if switch is None:
            self.view.show(Event("error", "windows are for the full-screen client"))
        elif not switch(command.number):
            self.view.show(Event("error", f"there is no window {command.number}"))

    def _away(self, command: commands.Away) -> None:
        self._send(CMsg(Code.AWAY, text=command.text))

    def _color(self, command: commands.Color) -> None:
        name = command.name
        if name is None:
            self.view.show(Event("info", "colours: " + ", ".join(PALETTE)))
        elif name not in PALETTE:
            self.view.show(Event("error", f"no colour {name}; colours: {', '.join(PALETTE)}"))
        else:
            self.color = name
            self.view.show(Event("info", f"your text is now {name}", color=name))

    def _quit(self, command: commands.Quit) -> None:
        self.quit(command.reason)

    def _history(self, command: commands.History) -> None:
        if self.current is None:
            self.view.show(Event("error", "you are in no room"))
            return
        oldest = self.oldest.get(fold(self.current))
        self._send(CMsg(Code.HISTORY, room=self.current, limit=command.count, before=oldest))

    def _help(self, command: commands.Help) -> None:
        for line in commands.HELP.splitlines():
            self.view.show(Event("info", line))

    def _invalid(self, command: commands.Invalid) -> None:
        self.view.show(Event("error", command.why))

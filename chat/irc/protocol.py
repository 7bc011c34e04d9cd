"""
One IRC client's connection: lines in, each command checked against the
table (L{chat.irc.commands}) and handled by the part of the protocol it
belongs to (registration, channels, messages, queries); the chat's events
out, rendered once per capability set (L{chat.irc.render}).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from typing import Any

from twisted.internet import interfaces
from zope.interface import implementer

from chat.core.events import AccountChanged, AwayChanged, Event, Joined, Left, MemberList, Private, Quit, Renamed, Said, TopicIs
from chat.frontend import FrontEndFactory
from chat.irc.accounts import Accounts
from chat.irc.channels import Channels
from chat.irc.commands import COMMANDS, MAX_CLIENT_TAGS
from chat.irc.messages import Messages
from chat.irc.numerics import ERR_INPUTTOOLONG, ERR_NOTREGISTERED, ERR_UNKNOWNCOMMAND
from chat.irc.queries import Queries
from chat.irc.registration import Registration
from chat.ircformat import MAX_LINE, parse
from chat.names import fold
from chat.service import ChatError, IClient, Members


@implementer(interfaces.IPushProducer, IClient)
class IRCServerProtocol(Registration, Accounts, Channels, Messages, Queries):
    """One IRC client."""

    # -- IClient ------------------------------------------------------------------------

    def _track(self, what: Joined | Left) -> None:
        """The channels this client is in, from what it is told (JOIN 0 parts them all)."""
        if self.user is None or what.nick != self.user.nick:
            return
        if self.channels is None:
            self.channels = set()
        if isinstance(what, Joined):
            self.channels.add(fold(what.room))
        else:
            self.channels.discard(fold(what.room))

    def _told_once(self, what: Quit | Renamed | AccountChanged | AwayChanged) -> bool:
        """
        Whether this room's copy of a quit or a rename is the one to show:
        each room it was in is told, and IRC shows it once, in the first of
        them this client shares.
        """
        mine = self.channels
        if not mine or not what.rooms:
            return True
        here = fold(what.room)
        for room in what.rooms:
            key = fold(room)
            if key in mine:
                return key == here
        return True

    def _wire(self, event: Event) -> bytes:
        """The event's lines as bytes, CR-LF included: encoded once for every client like this one."""
        return event.rendered(self.wire_form,
                              lambda _: "".join(line + "\r\n" for line in self._lines(event)).encode("utf-8"))

    def deliver(self, event: Event) -> None:
        what = event.what
        if type(what) is Said or type(what) is Private:  # the hot path
            if what.history or self.user is None or what.nick != self.user.nick or "echo-message" in self.caps:
                self.outbox.push(self._wire(event))
            # else: IRC clients show their own lines themselves, unless they asked for the echo
            return
        if isinstance(what, (Joined, Left)):
            self._track(what)
        elif isinstance(what, MemberList):
            self._names(Members(what.room, what.names))
            return
        elif isinstance(what, TopicIs):
            self._topic_is(what)  # the topic as it stands, on joining
            return
        elif isinstance(what, AwayChanged) and (self.user is None or what.nick == self.user.nick
                                                 or not self._told_once(what)):
            return  # one's own is answered by 305/306; others' once, in the first shared channel
        elif isinstance(what, (Quit, Renamed, AccountChanged)) and not self._told_once(what):
            return
        for text in self._lines(event):
            self.line(text)

    def reserve(self) -> Callable[[Sequence[Event]], None]:
        fill = self.outbox.reserve()

        def filled(events: Sequence[Event]) -> None:
            fill([(line + "\r\n").encode("utf-8") for line in self._history_lines(events)])

        return filled

    def disconnect(self, error: ChatError) -> None:
        self.user = None
        self.quit_reason = ""
        self.close_with(f"ERROR :{error.text}")

    # -- input --------------------------------------------------------------------------------

    def lineLengthExceeded(self, line: bytes) -> None:
        self.quit_reason = "was disconnected: line too long"
        self.close_with(f"ERROR :a line holds at most {self.MAX_LENGTH} bytes")

    def lineReceived(self, data: bytes) -> None:
        if self.closing:
            return
        data = data.rstrip(b"\r")
        if not data or not self.heard():
            return
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            self.line(f":{self.factory.server_name} FAIL * INVALID_UTF8 :that line was not UTF-8; it was ignored")
            return
        line = parse(text)
        if line is None:
            return
        tags, _, body = text.partition(" ") if text.startswith("@") else ("", "", text)
        if len(body.encode("utf-8")) > MAX_LINE - 2 or len(tags.encode("utf-8")) > MAX_CLIENT_TAGS + 1:
            self.reply(ERR_INPUTTOOLONG, "Input line was too long")
            return
        command = COMMANDS.get(line.command)
        if command is None:
            self.reply(ERR_UNKNOWNCOMMAND, line.command, "Unknown command")
            return
        if self.user is None and command.registered:
            self.reply(ERR_NOTREGISTERED, "You have not registered")
            return
        if command.params and not self._need(line.params, command.params, line.command):
            return
        getattr(self, command.handler)(line.params)


class IRCFactory(FrontEndFactory):
    """The IRC front end's connections."""

    protocol = IRCServerProtocol  # type: ignore[assignment]  # Factory's protocol is typed by its generic

    def __init__(self, *args: Any, server_name: str | None = None, network: str = "chat", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.server_name = server_name or socket.gethostname()
        self.network = network

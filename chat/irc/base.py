"""
What every part of an IRC connection shares: its state, its output (lines
and numerics), the parameter check, and how a refused request is answered.
The parts (registration, channels, messages, queries) extend it; the
protocol (L{chat.irc.protocol}) puts them together.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from twisted.logger import Logger
from twisted.protocols.basic import LineReceiver
from twisted.python.failure import Failure

from chat.core.events import AccountChanged, AwayChanged, Event, Joined, Private, Renamed, ReplayEnd, Said, What
from chat.frontend import SHUTDOWN_TEXT, Connection
from chat.irc.commands import TARGMAX
from chat.irc.numerics import ERR_NEEDMOREPARAMS, ERR_PASSWDMISMATCH, ERR_TOOMANYTARGETS
from chat.irc.render import channel, chat_nick, mask, render, tagged, with_tag
from chat.ircformat import MAX_LINE, MAX_TAGS
from chat.names import fold, refusal
from chat.service import SERVER_ERROR, Presence

if TYPE_CHECKING:
    from chat.irc.protocol import IRCFactory


class IRCConnection(Connection, LineReceiver):
    """One IRC client's connection, as every part of the protocol sees it."""


    delimiter = b"\n"  # CR-LF, or a bare LF as some clients send
    MAX_LENGTH = MAX_TAGS + MAX_LINE
    log = Logger()

    factory: IRCFactory
    nick: str | None = None
    username: str | None = None
    password: str | None = None
    negotiating = False
    registering = False
    _caps: frozenset[str] = frozenset()
    #: The form this client's lines take (L{chat.irc.protocol}'s C{_wire}), set with its capabilities.
    wire_form = "irc-wire/000"
    sasl_account: str | None = None
    _sasl_mechanism: str | None = None
    _sasl_data = ""
    _batches = 0
    channels: set[str] | None = None  # folded rooms this client is in, as it was told
    _capture: list[bytes] | None = None

    #: Parts of the protocol one part asks of another.
    irc_LUSERS: Callable[[list[str]], None]

    @property
    def caps(self) -> frozenset[str]:
        """The IRCv3 capabilities this client asked for."""
        return self._caps

    @caps.setter
    def caps(self, caps: frozenset[str]) -> None:
        # Worked out once here, not for every line delivered.
        self._caps = caps
        self.wire_form = (f"irc-wire/{'server-time' in caps:d}{'message-tags' in caps:d}"
                          f"{'account-tag' in caps:d}")

    def refuse(self, slug: str, text: str) -> None:
        self.close_with(f"ERROR :{text} ({slug})")

    def send_ping(self) -> None:
        self.line(f"PING :{self.factory.server_name}")

    def goodbye(self) -> None:
        self.close_with(f"ERROR :{SHUTDOWN_TEXT}")

    def close_with(self, line: str) -> None:
        self.close_with_data((line + "\r\n").encode("utf-8"))

    def _lines(self, event: Event) -> list[str]:
        """The event as this client negotiated to see it (rendered once per kind of client)."""
        caps = self.caps
        if "extended-join" in caps or "account-notify" in caps or "account-tag" in caps or "away-notify" in caps:
            lines = self._ircv3_lines(event)
            if lines is not None:
                return lines
        return self._plain_lines(event)

    def _plain_lines(self, event: Event) -> list[str]:
        caps = self.caps
        server_time, msgid = "server-time" in caps, "message-tags" in caps
        if not (server_time or msgid):
            return event.rendered("irc", render)
        return event.rendered(f"irc/{server_time:d}{msgid:d}",
                              lambda m: tagged(m, render(m, not server_time), server_time, msgid))

    def _ircv3_lines(self, event: Event) -> list[str] | None:
        """
        The event as a client that asked to see accounts and away marks sees
        it (IRCv3 extended-join, account-notify, account-tag, away-notify),
        or None if those make no difference to it.
        """
        caps, what = self.caps, event.what
        if type(what) is Joined:
            return self._extended_join(event) if "extended-join" in caps else None
        if type(what) is Said or type(what) is Private:
            if "account-tag" not in caps or what.account is None:
                return None
            tag = f"account={what.account}"
            return event.rendered(f"irc-at/{'server-time' in caps:d}{'message-tags' in caps:d}",
                                  lambda _: [with_tag(line, tag) for line in self._plain_lines(event)])
        if isinstance(what, AwayChanged):
            if "away-notify" not in caps:
                return None
            return [f":{mask(what.nick)} AWAY :{what.away}" if what.away else f":{mask(what.nick)} AWAY"]
        if "account-notify" not in caps:
            return None
        if isinstance(what, AccountChanged):
            return [f":{mask(what.nick)} ACCOUNT {what.account or '*'}"]
        if isinstance(what, Renamed) and what.account != what.was:
            return [*self._plain_lines(event), f":{mask(what.new)} ACCOUNT {what.account or '*'}"]
        return None

    def _extended_join(self, event: Event) -> list[str]:
        """IRCv3 extended-join: the joiner's account (or *) and its real name (the chat keeps none: its nickname)."""
        server_time, msgid = "server-time" in self.caps, "message-tags" in self.caps

        def render_extended(what: What) -> list[str]:
            assert isinstance(what, Joined)
            line = f":{mask(what.nick)} JOIN {channel(what.room)} {what.account or '*'} :{what.realname or what.nick}"
            return tagged(what, [line], server_time, msgid) if server_time or msgid else [line]

        return event.rendered(f"irc-xj/{server_time:d}{msgid:d}", render_extended)

    def _history_lines(self, events: Sequence[Event], room: str | None = None) -> list[str]:
        """A history replay or page: a C{chathistory} batch where the client takes batches."""
        lines = [line for e in events for line in self._lines(e)]
        room = room or next((e.what.room for e in events if isinstance(e.what, (Said, ReplayEnd))), None)
        if "batch" not in self.caps or room is None:
            return lines
        self._batches += 1
        ref = f"h{self._batches}"
        return [f":{self.factory.server_name} BATCH +{ref} chathistory {channel(room)}",
                *(with_tag(line, f"batch={ref}") for line in lines),
                f":{self.factory.server_name} BATCH -{ref}"]

    def line(self, text: str) -> None:
        data = (text + "\r\n").encode("utf-8")
        capture = self._capture
        if capture is not None:  # an answer that keeps its request's place (L{_in_order})
            capture.append(data)
        else:
            self.outbox.push(data)

    @property
    def target(self) -> str:
        """Whom numerics and server notices address: the nickname, or C{*} until it is accepted."""
        return self.nick if self.user is not None and self.nick else "*"

    def reply(self, numeric: str, *params: str) -> None:
        """A numeric to this client: its nickname (or *) first, the last parameter as trailing."""
        *middle, last = params
        head = " ".join([f":{self.factory.server_name}", numeric, self.target, *middle])
        self.line(f"{head} :{last}")

    def _need(self, params: list[str], n: int, command: str) -> bool:
        if len(params) < n or not all(params[:n]):
            self.reply(ERR_NEEDMOREPARAMS, command, "Not enough parameters")
            return False
        return True

    def _failed(self, failure: Failure, errors: dict[str, str], *about: str) -> None:
        """A refused request, as the numeric IRC clients know (a NOTICE for the rest)."""
        error = refusal(failure)
        if error is not None:
            numeric = errors.get(error.slug)
            if numeric == ERR_PASSWDMISMATCH:
                self.reply(numeric, error.text)  # "464 <client> :<text>": about no one else
            elif numeric is not None:
                self.reply(numeric, *about, error.text)
            else:
                self.line(f":{self.factory.server_name} NOTICE {self.target} :{error.text}")
        else:
            self.log.failure("an IRC request failed", failure)
            self.line(f":{self.factory.server_name} NOTICE {self.target} :{SERVER_ERROR}")

    def _targets(self, targets: str, command: str, key: Callable[[str], str] = fold) -> list[str]:
        """
        The targets of a comma-separated list, each once (by C{key}) and at
        most TARGMAX of them (a 407 for the rest); each one after the first
        costs flood control a line.  Empty if the client is being closed.
        """
        unique: dict[str, str] = {}
        for target in targets.split(","):
            if target:
                unique.setdefault(key(target), target)
        chosen = list(unique.values())
        limit = TARGMAX[command]
        if len(chosen) > limit:
            self.reply(ERR_TOOMANYTARGETS, chosen[limit], f"Too many targets: {command} takes at most {limit}")
            chosen = chosen[:limit]
        if len(chosen) > 1 and not self.requests(len(chosen) - 1):
            return []
        return chosen

    def _online(self, nicks: list[str], then: Callable[[tuple[Presence, ...]], object]) -> None:
        d = self.factory.service.online([chat_nick(n) for n in nicks]).addCallback(then)
        self.waiting_for(d, lambda f: self._failed(f, {}))

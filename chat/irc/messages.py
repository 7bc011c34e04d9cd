"""
Lines to channels and to people (PRIVMSG, NOTICE, TAGMSG) and their history
(IRCv3 draft/chathistory); answers keep their request's place in the
client's order.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from twisted.internet import defer

from chat.irc.base import IRCConnection
from chat.irc.numerics import CHANNEL_ERRORS, ERR_NORECIPIENT, ERR_NOTEXTTOSEND, MESSAGE_ERRORS, RPL_AWAY
from chat.irc.render import chat_nick, id_of, room_of
from chat.ircformat import colour_of, strip_formatting
from chat.limits import PAGE_PER_TOKEN, TEXT_PER_TOKEN
from chat.names import NICKSERV_KEY, ChatError, fold
from chat.service import MAX_PAGE, Page


class Messages(IRCConnection):
    """Lines to channels and people, and their history, for an IRC connection."""

    def irc_PRIVMSG(self, params: list[str], notice: bool = False) -> None:
        command = "NOTICE" if notice else "PRIVMSG"
        if not params:
            if not notice:
                self.reply(ERR_NORECIPIENT, f"No recipient given ({command})")
            return
        if len(params) < 2 or not params[1]:
            if not notice:
                self.reply(ERR_NOTEXTTOSEND, "No text to send")
            return
        text, action = params[1], False
        if text.startswith("\x01"):
            body = text.strip("\x01")
            if not body.startswith("ACTION "):
                return  # other CTCP requests reach nobody (native clients would see control bytes)
            text, action = body[len("ACTION "):], True
        color = colour_of(text)
        text = strip_formatting(text)
        service = self.factory.service
        for target in self._targets(params[0], command, lambda t: fold(chat_nick(t))):
            if fold(target) == NICKSERV_KEY:
                if not notice:  # a NOTICE is never answered
                    self.nickserv(params[1])
                continue
            room = room_of(target)
            d: defer.Deferred[Any]
            if room is not None:
                d = service.say(self.me, room, text, color, action, notice)
            else:
                d = service.private(self.me, chat_nick(target), text, color, action, notice)
            self._in_order(d, partial(self._message_answers, target=target, room=room, notice=notice))
            self.in_flight(d)
            self.sent(len(text))
            self.charge(len(text) / TEXT_PER_TOKEN)

    def _message_answers(self, d: defer.Deferred[Any], target: str, room: str | None, notice: bool) -> None:
        """What a PRIVMSG is answered: a 301 for an away user, or the numeric of a refusal; a NOTICE, nothing."""
        if notice:  # a NOTICE is never answered automatically (RFC 2812)
            d.addErrback(lambda f: None if f.check(ChatError) else self._failed(f, {}))
            return
        if room is None:
            d.addCallback(self._away_reply, target)
        d.addErrback(self._failed, MESSAGE_ERRORS, target)

    #: NickServ's commands (L{chat.irc.accounts}).
    nickserv: Callable[[str], None]

    def _in_order(self, d: defer.Deferred[Any], answers: Callable[[defer.Deferred[Any]], None]) -> None:
        """
        C{answers} adds to C{d} what answers the request; its lines take the
        request's place in this client's order, however late C{d} fires, so
        replies keep command order (a PING sent after a PRIVMSG to an away
        user is answered after its 301).
        """
        if d.called:
            answers(d)
            return
        fill = self.outbox.reserve()
        captured: list[bytes] = []

        def start(result: object) -> object:
            self._capture = captured
            return result

        def end(result: object) -> object:
            self._capture = None
            fill(captured)
            return result

        d.addBoth(start)
        answers(d)
        d.addBoth(end)

    def _away_reply(self, away: str | None, target: str) -> None:
        if away is not None:
            self.reply(RPL_AWAY, target, away)

    def irc_NOTICE(self, params: list[str]) -> None:
        self.irc_PRIVMSG(params, notice=True)

    def irc_TAGMSG(self, params: list[str]) -> None:
        """A message of client-only tags alone: this server relays none (ISUPPORT C{CLIENTTAGDENY=*})."""

    def irc_CHATHISTORY(self, params: list[str]) -> None:
        """IRCv3 draft chathistory: LATEST, BEFORE and AFTER, with msgid references."""
        sub, target, ref, count = params[0].upper(), params[1], params[2], params[3]
        room = room_of(target)
        before = after = None
        try:
            limit = int(count)
            if sub == "LATEST" and ref != "*":
                raise ValueError(ref)
            if sub in ("BEFORE", "AFTER"):
                kind, _, value = ref.partition("=")
                if kind != "msgid":
                    raise ValueError(ref)
                number = id_of(value, room or "")
                before, after = (number, None) if sub == "BEFORE" else (None, number)
            elif sub != "LATEST":
                raise ValueError(sub)
        except ValueError:
            self.line(f":{self.factory.server_name} FAIL CHATHISTORY INVALID_PARAMS {sub} :"
                      "use LATEST * N, or BEFORE/AFTER msgid=ID N")
            return
        if room is None:
            self.line(f":{self.factory.server_name} FAIL CHATHISTORY INVALID_TARGET {sub} {target} :"
                      "history is kept for channels only")
            return

        def page(result: Page) -> None:
            for line in self._history_lines(result.events, result.room):
                self.line(line)
            self.charge(len(result.events) / PAGE_PER_TOKEN)

        d = self.factory.service.history(self.me, room, before, after, max(1, min(limit, MAX_PAGE)))
        d.addCallback(page)
        self.waiting_for(d, lambda f: self._failed(f, CHANNEL_ERRORS, target))

"""
IRC channels as the chat's rooms: JOIN, PART, NAMES, WHO, LIST, TOPIC and
MODE (rooms have no modes yet), each channel of a list a request of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from twisted.internet import defer
from twisted.python.failure import Failure

from chat.core.events import TopicIs
from chat.irc.base import IRCConnection
from chat.irc.numerics import (CHANNEL_ERRORS, ERR_NOSUCHCHANNEL, ERR_UMODEUNKNOWNFLAG,
                               ERR_UNKNOWNMODE, ERR_USERSDONTMATCH, RPL_CHANNELMODEIS, RPL_ENDOFBANLIST, RPL_ENDOFNAMES,
                               RPL_ENDOFWHO, RPL_LIST, RPL_LISTEND, RPL_LISTSTART, RPL_NAMREPLY, RPL_NOTOPIC, RPL_TOPIC,
                               RPL_TOPICWHOTIME, RPL_UMODEIS, RPL_WHOREPLY)
from chat.irc.render import channel, chat_nick, irc_nick, mask, room_of
from chat.ircformat import strip_formatting
from chat.limits import NAMES_PER_TOKEN
from chat.names import ChatError, fold, refusal
from chat.service import MAX_LOOKUP, Members, Presence


class Channels(IRCConnection):
    """The channel commands of an IRC connection: each channel is a room of the chat."""

    def irc_JOIN(self, params: list[str]) -> None:
        if params[0] == "0":  # leave every channel: a PART each
            rooms = sorted(self.channels or ())
            if rooms and self.requests(len(rooms) - 1):
                leave = self.factory.service.leave
                for room in rooms:
                    self.waiting_for(leave(self.me, room, ""), partial(self._channel_refused, channel(room)))
            return
        # Keys, if any, are ignored; joining a channel one is in is no error in IRC.
        joined = self._each_channel(params[0], "JOIN", self.factory.service.join, ignore="already-in-room")
        self.charge(joined * self.factory.join_cost)

    def irc_PART(self, params: list[str]) -> None:
        reason = strip_formatting(params[1]) if len(params) > 1 else ""
        leave = self.factory.service.leave
        self._each_channel(params[0], "PART", lambda user, room: leave(user, room, reason))

    def _each_channel(self, targets: str, command: str, request: Callable[[Any, str], defer.Deferred[None]],
                      ignore: str | None = None) -> int:
        """C{request} (join, leave) for each channel of a comma-separated list, in order: how many were asked."""
        chosen = self._targets(targets, command)
        for target in chosen:
            room = room_of(target)
            if room is None:
                self.reply(ERR_NOSUCHCHANNEL, target, "No such channel")
                continue

            def refused(f: Failure, target: str = target) -> None:
                error = refusal(f)
                if error is None or error.slug != ignore:
                    self._failed(f, CHANNEL_ERRORS, target)

            self.waiting_for(request(self.me, room), refused)
        return len(chosen)

    def _names(self, members: Members) -> None:
        name = channel(members.room)
        batch: list[str] = []
        size = 0
        for nick in map(irc_nick, members.names):  # as many names as fit in a line
            cost = len(nick.encode("utf-8")) + 1
            if batch and size + cost >= 400:
                self.reply(RPL_NAMREPLY, "=", name, " ".join(batch))
                batch, size = [], 0
            batch.append(nick)
            size += cost
        if batch:
            self.reply(RPL_NAMREPLY, "=", name, " ".join(batch))
        self.reply(RPL_ENDOFNAMES, name, "End of /NAMES list")

    def _names_asked(self, members: Members) -> None:
        self._names(members)
        self.charge(len(members.names) / NAMES_PER_TOKEN)

    def _channel_refused(self, target: str, failure: Failure) -> None:
        self._failed(failure, CHANNEL_ERRORS, target)

    def _names_refused(self, target: str, failure: Failure) -> None:
        self.reply(RPL_ENDOFNAMES, target, "End of /NAMES list")

    def irc_NAMES(self, params: list[str]) -> None:
        if not params:
            self.reply(RPL_ENDOFNAMES, "*", "End of /NAMES list")
            return
        for target in self._targets(params[0], "NAMES"):
            room = room_of(target)
            if room is None:
                self.reply(RPL_ENDOFNAMES, target, "End of /NAMES list")
                continue
            d = self.factory.service.members(room)
            d.addCallback(self._names_asked)
            self.waiting_for(d, partial(self._names_refused, target))

    def irc_WHO(self, params: list[str]) -> None:
        target = params[0] if params else "*"
        room = room_of(target)
        server = self.factory.server_name
        if room is None:
            if "*" in target or "?" in target:  # masks are not searched
                self.reply(RPL_ENDOFWHO, target, "End of WHO list")
                return

            def one(found: tuple[Presence, ...]) -> None:
                for p in found:
                    nick = irc_nick(p.nick)
                    self.reply(RPL_WHOREPLY, "*", nick, "chat", server, nick, "G" if p.away else "H", f"0 {p.nick}")
                self.reply(RPL_ENDOFWHO, target, "End of WHO list")

            self._online([target], one)
            return

        async def who() -> None:
            members = await self.factory.service.members(room)
            away: set[str] = set()
            if len(members.names) <= MAX_LOOKUP:  # here or gone: asked for rooms of ordinary size
                away = {p.nick for p in await self.factory.service.online(members.names) if p.away}
            for name in members.names:
                nick = irc_nick(name)
                here = "G" if name in away else "H"
                self.reply(RPL_WHOREPLY, channel(members.room), nick, "chat", server, nick, here, f"0 {nick}")
            self.reply(RPL_ENDOFWHO, target, "End of WHO list")

        d = defer.Deferred.fromCoroutine(who())
        self.waiting_for(d, lambda f: self.reply(RPL_ENDOFWHO, target, "End of WHO list"))

    def irc_LIST(self, params: list[str]) -> None:
        async def listing() -> None:
            rooms = await self.factory.service.room_list()
            self.reply(RPL_LISTSTART, "Channel", "Users  Name")
            for room in rooms:
                try:
                    members = await self.factory.service.members(room)
                except ChatError:
                    continue  # emptied meanwhile
                self.reply(RPL_LIST, channel(members.room), str(len(members.names)), "")
            self.reply(RPL_LISTEND, "End of /LIST")
            self.charge(len(rooms) / NAMES_PER_TOKEN * 10)  # a request per room: ten times a plain list's cost

        self.waiting_for(defer.Deferred.fromCoroutine(listing()), lambda f: self._failed(f, {}))

    def _topic_is(self, topic: TopicIs) -> None:
        name = channel(topic.room)
        if not topic.text:
            self.reply(RPL_NOTOPIC, name, "No topic is set")
            return
        self.reply(RPL_TOPIC, name, topic.text)
        self.reply(RPL_TOPICWHOTIME, name, mask(topic.nick or "chat"), str((topic.ts or 0) // 1000))

    def irc_TOPIC(self, params: list[str]) -> None:
        target = params[0]
        room = room_of(target)
        if room is None:
            self.reply(ERR_NOSUCHCHANNEL, target, "No such channel")
            return
        service = self.factory.service
        if len(params) > 1:
            d = service.set_topic(self.me, room, strip_formatting(params[1]))
        else:
            async def query() -> None:
                await service.members(room)  # for IRC, a channel nobody is in does not exist
                topic = (await service.topic(room)).what
                if isinstance(topic, TopicIs):
                    self._topic_is(topic)

            d = defer.Deferred.fromCoroutine(query())
        self.waiting_for(d, lambda f: self._failed(f, CHANNEL_ERRORS, target))

    def irc_MODE(self, params: list[str]) -> None:
        target, change = params[0], "".join(params[1:2])
        if room_of(target) is not None:
            if not change:
                self.reply(RPL_CHANNELMODEIS, target, "+")
            elif change.lstrip("+") == "b" and len(params) < 3:  # the ban list, asked for on joining: empty
                self.reply(RPL_ENDOFBANLIST, target, "End of channel ban list")
            else:
                mode = next((c for c in change if c not in "+-"), "+")
                self.reply(ERR_UNKNOWNMODE, mode, "is not a channel mode here: rooms have no modes")
        elif self.user is not None and fold(chat_nick(target)) == fold(self.user.nick):
            if change:
                self.reply(ERR_UMODEUNKNOWNFLAG, "Unknown MODE flag: users have no modes here")
            else:
                self.reply(RPL_UMODEIS, "+")
        else:
            self.reply(ERR_USERSDONTMATCH, "Cannot change mode for other users")

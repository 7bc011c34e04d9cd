"""
A chat service that records every call and answers only when the test says:
a front end is seen translating its protocol into service calls, and the
service's answers and deliveries back into its protocol, with no backend.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from zope.interface import implementer

from chat.core.events import Event
from chat.names import fold
from chat.service import IChatService, IClient, Members, Page


@implementer(IChatService)
class FakeService:
    """Every request is recorded with its Deferred; L{answer} fires the oldest."""

    accounts = None

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], defer.Deferred[Any]]] = []

    def when_ready(self) -> defer.Deferred[None]:
        return defer.succeed(None)

    def _call(self, name: str, *args: Any) -> defer.Deferred[Any]:
        d: defer.Deferred[Any] = defer.Deferred()
        self.calls.append((name, args, d))
        return d

    def answer(self, result: Any = None) -> tuple[str, tuple[Any, ...]]:
        """Answer the oldest call not yet answered with C{result} (a ChatError fails it)."""
        name, args, d = self.calls.pop(0)
        if isinstance(result, Exception):
            d.errback(result)
        else:
            d.callback(result)
        return name, args

    def logon(self, nick: str, client: IClient, password: str | None = None,
              account: str | None = None) -> defer.Deferred[Any]:
        return self._call("logon", nick, client)

    def rename(self, user: Any, nick: str, password: str | None = None) -> defer.Deferred[None]:
        return self._call("rename", user, nick)

    def join(self, user: Any, room: str) -> defer.Deferred[None]:
        return self._call("join", user, room)

    def leave(self, user: Any, room: str, reason: str = "") -> defer.Deferred[None]:
        return self._call("leave", user, room, reason)

    def quit(self, user: Any, reason: str) -> defer.Deferred[None]:
        return self._call("quit", user, reason)

    def say(self, user: Any, room: str, text: str, color: str | None, action: bool,
            notice: bool = False) -> defer.Deferred[None]:
        return self._call("say", user, room, text, color, action, notice)

    def private(self, user: Any, to: str, text: str, color: str | None, action: bool,
                notice: bool = False) -> defer.Deferred[str | None]:
        return self._call("private", user, to, text, color, action, notice)

    def members(self, room: str) -> defer.Deferred[Members]:
        return self._call("members", room)

    def room_list(self) -> defer.Deferred[tuple[str, ...]]:
        return self._call("room_list")

    def history(self, user: Any, room: str, before: int | None, after: int | None, limit: int) -> defer.Deferred[Page]:
        return self._call("history", user, room, before, after, limit)

    def online(self, nicks: Any) -> defer.Deferred[tuple[Any, ...]]:
        return self._call("online", nicks)

    def set_away(self, user: Any, text: str) -> defer.Deferred[None]:
        return self._call("set_away", user, text)

    def set_topic(self, user: Any, room: str, text: str) -> defer.Deferred[None]:
        return self._call("set_topic", user, room, text)

    def topic(self, room: str) -> defer.Deferred[Event]:
        return self._call("topic", room)

    def register(self, user: Any, password: str) -> defer.Deferred[str]:
        return self._call("register", user, password)

    def change_password(self, user: Any, current: str, new: str) -> defer.Deferred[None]:
        return self._call("change_password", user, current, new)

    def drop_account(self, user: Any, password: str) -> defer.Deferred[None]:
        return self._call("drop_account", user, password)

    def barrier(self) -> defer.Deferred[None]:
        return self._call("barrier")


class FakeUser:
    def __init__(self, nick: str) -> None:
        self.nick = nick
        self.account: str | None = None

    @property
    def key(self) -> str:
        return fold(self.nick)

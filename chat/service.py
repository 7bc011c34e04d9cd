"""
The chat service's interface: what every front end (native, IRC, WebSocket)
calls, as C{twisted.words.iwords} is for Twisted's own chat server.  One
class implements it (L{chat.core.service.ChatService}), in front of a
ledger (L{chat.core.ledger}): one process's, or a node of a Redis cluster.

The contract, the same whatever the ledger:
  - every request returns a Deferred: it fires with the result (C{None}
    for an action), or fails with L{ChatError}, whose C{slug} is the
    documented error (docs/protocol.md).  Any other failure is a bug or an
    outage, and the front end answers C{server-error};
  - what users are told (joins, messages, member lists, the history replay
    of a join) reaches them as L{Event}s through their L{IClient}, in the
    order each room decided, never through a request's result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs
from twisted.internet.defer import Deferred
from zope.interface import Attribute, Interface

from chat.core.events import Event
from chat.names import ChatError

__all__ = ["ChatError", "IChatService", "IClient", "IUser", "MAX_LOOKUP", "MAX_PAGE", "Members", "Page", "Presence",
           "SERVER_ERROR"]

#: Most messages one history page holds (docs/protocol.md, code 11).
MAX_PAGE = 200

#: Nicknames one L{IChatService.online} request may ask about.
MAX_LOOKUP = 50

#: What a user is told when the backend failed it for a reason of its own.
SERVER_ERROR = "the server could not carry out this request; try again later"


class IClient(Interface):
    """A user's connection as a backend sees it, whatever the front end."""

    def deliver(event: Event) -> None:
        """
        Queue C{event} for this user: the per-recipient step of every
        broadcast, so it must cost no more than an append.
        """

    def reserve() -> Callable[[Sequence[Event]], None]:
        """
        Keep a place in this user's order for events the backend will have
        later (a join's history replay, read from the store): events
        delivered meanwhile wait behind it.  Returns the function that puts
        the events in that place (called once; an empty list frees it).
        """

    def disconnect(error: ChatError) -> None:
        """The backend can no longer keep this user: close with C{error}."""

    host = Attribute("The address the client connects from ('' if it has none, as a UNIX socket's): "
                     "password attempts and registrations are limited per address.")
    realname = Attribute("The real name the client gave (IRC's USER), or ''.")


class IUser(Interface):
    """A logged-on user, as returned by L{IChatService.logon}."""

    nick = Attribute("The user's nickname as shown (a rename changes it).")
    account = Attribute("The account the user proved for its present nickname (its name as registered), or None.")


@attrs.frozen
class Members:
    """A room's members, for a chatters list."""

    room: str
    names: tuple[str, ...]
    #: Those of them who are away.
    away: tuple[str, ...] = ()


@attrs.frozen
class Presence:
    """A logged-on user as others may see it: its nickname as shown, and its away message if it is away."""

    nick: str
    away: str | None = None
    #: The account it is logged in to, and its client's real name (IRC's USER) or "".
    account: str | None = None
    realname: str = ""


@attrs.frozen
class Page:
    """A page of a room's history, oldest first, and whether there is more beyond it."""

    room: str
    events: tuple[Event, ...]
    more: bool


class IChatService(Interface):
    """One chat: users, rooms and their history, whichever front end they use."""

    accounts = Attribute("The registered nicknames (L{chat.accounts.Accounts}) logons and renames are checked "
                         "against, or None.")

    def when_ready() -> Deferred[None]:
        """Fires once the chat can serve (a cluster node once it joined the cluster)."""

    def logon(nick: str, client: IClient, password: str | None = None,
              account: str | None = None) -> Deferred[IUser]:
        """
        Take C{nick} for C{client} (unique case-insensitively, chat-wide); a
        registered nickname only with its C{password}, from every front end.
        C{account}: one the front end proved for this connection (IRC's
        SASL), which the user is logged in to unless it takes another
        account's nickname.
        """

    def rename(user: IUser, nick: str, password: str | None = None) -> Deferred[None]:
        """
        Change C{user}'s nickname, under the same accounts check as a logon;
        its rooms are told (code 4 with C{room}), before or after the
        request's result fires.
        """

    def register(user: IUser, password: str) -> Deferred[str]:
        """
        Register C{user}'s present nickname as an account with C{password}:
        the account's name.  The user is then logged in to it.
        """

    def change_password(user: IUser, current: str, new: str) -> Deferred[None]:
        """Give the account C{user} is logged in to a new password, once the current one is proved."""

    def drop_account(user: IUser, password: str) -> Deferred[None]:
        """Forget the account C{user} is logged in to, once its password is proved: the nickname is free again."""

    def join(user: IUser, room: str) -> Deferred[None]:
        """
        Join (and create) C{room}.  The room hears the join, then the joiner
        gets the member list, the history replay with its end marker, then
        everything said after the join.  Fires once all of that is queued.
        """

    def leave(user: IUser, room: str, reason: str = "") -> Deferred[None]:
        """Leave C{room}; the room, and the leaver, hear it (with C{reason}, if any)."""

    def quit(user: IUser, reason: str) -> Deferred[None]:
        """Remove C{user} from the chat; its rooms hear C{reason}.  Idempotent."""

    def say(user: IUser, room: str, text: str, color: str | None, action: bool,
            notice: bool = False) -> Deferred[None]:
        """
        A line to a room C{user} is in.  It is stored (when history is kept)
        before anyone receives it; fires once it is relayed.  A C{notice}
        is a line no client answers automatically (IRC's NOTICE).
        """

    def private(user: IUser, to: str, text: str, color: str | None, action: bool,
                notice: bool = False) -> Deferred[str | None]:
        """
        A private line to C{to}, echoed to its sender.  Fires with C{to}'s
        away message if it is away (so the sender can be told), else None.
        """

    def set_away(user: IUser, text: str) -> Deferred[None]:
        """Mark C{user} away with C{text}, or back ("" clears it); cleared when it quits."""

    def members(room: str) -> Deferred[Members]:
        """The members of an existing room."""

    def room_list() -> Deferred[tuple[str, ...]]:
        """The names of the rooms that have members, sorted case-insensitively."""

    def set_topic(user: IUser, room: str, text: str) -> Deferred[None]:
        """
        A new topic for a room C{user} is in ("" clears it): stored, then
        the room is told (code 12).  A joiner gets the topic after the
        member list.
        """

    def topic(room: str) -> Deferred[Event]:
        """A room's topic as a joiner gets it (code 12 marked history; no text if there is none)."""

    def online(nicks: Sequence[str]) -> Deferred[tuple[Presence, ...]]:
        """Which of C{nicks} (at most L{MAX_LOOKUP}) are logged on, and whether they are away (ISON, WHOIS)."""

    def history(user: IUser, room: str, before: int | None, after: int | None, limit: int) -> Deferred[Page]:
        """A page of the history of a room C{user} is in (docs/protocol.md, code 11)."""

    def barrier() -> Deferred[None]:
        """Fires once everything accepted so far has been relayed."""

"""
What the chat service (L{chat.core.service}) needs of a backend: a ledger
that holds who is where and what was said, in one order per room, and tells
each member.  The service has checked every request before a ledger sees it
(names, texts, colours, membership, limits, accounts); a ledger refuses only
what depends on what it holds (a nickname in use, a look-alike room), and
fails with L{ChatError} when it cannot do its part (its store, Redis).

Two ledgers: the one process's (L{chat.local.LocalLedger}: memory, SQLite)
and a node of a Redis cluster (L{chat.cluster.node.ClusterNode}).
"""

from __future__ import annotations

from collections.abc import Sequence

from twisted.internet.defer import Deferred
from zope.interface import Attribute, Interface

from chat.core.events import TopicIs, TopicSet, What
from chat.service import IClient, Members, Presence
from chat.state import Room, RoomCreationRefused, User

__all__ = ["ILedger", "RoomCreationRefused"]


class ILedger(Interface):
    """Users, rooms and their history, for the one chat service in front of it."""

    keeps_history = Attribute("Whether the ledger keeps history (HISTORY requests can be answered).")
    replay = Attribute("Lines of a room's history a join replays (--history-replay; 0: none, the end marker still).")
    account_store = Attribute("Where accounts are kept (L{chat.core.accountbook.IAccountStore}): beside the "
                              "history, or in memory without one; it may change when the ledger starts.")

    def when_ready() -> Deferred[None]:
        """Fires once the ledger can serve (a cluster node once it joined the cluster)."""

    def barrier() -> Deferred[None]:
        """Fires once everything accepted so far has been relayed."""

    def logon(nick: str, client: IClient, account: str | None = None) -> Deferred[User]:
        """
        Take the (valid) nickname C{nick} for C{client}, unless it is in use
        or looks like one that is; the user is logged in to C{account} (proved).
        """

    def rename(user: User, nick: str, account: str | None = None) -> Deferred[None]:
        """
        Change C{user}'s nickname (valid, its password checked) and the
        account it is logged in to with it; its rooms are told (L{Renamed}).
        """

    def announce_account(user: User, account: str | None) -> Deferred[None]:
        """C{user} is logged in to C{account} now (None: to none); its rooms are told (L{AccountChanged})."""

    def join(user: User, name: str, may_create: bool) -> Deferred[bool]:
        """
        Join C{user} (who may be in one room more) to C{name}: the room is
        told, the joiner gets the members, the topic, the replay and its
        end.  Fires with whether the join created the room, once all that
        is queued; fails with L{RoomCreationRefused} if it would create a
        room and not C{may_create}.
        """

    def leave(user: User, room: Room, reason: str) -> Deferred[None]:
        """Take C{user} out of C{room} (one it is in); the room and the leaver are told (L{Left})."""

    def quit(user: User, why: str) -> Deferred[None]:
        """Take C{user} out of the chat; its rooms are told (L{Quit}).  Idempotent."""

    def say(user: User, room: Room, text: str, color: str, action: bool, notice: bool) -> Deferred[None]:
        """
        A line (checked) in C{room}: the ledger gives it its id (its place in
        the room's order), stores it if it keeps history, then relays it.
        """

    def private(user: User, to: str, text: str, color: str, action: bool, notice: bool) -> Deferred[str | None]:
        """A private line to C{to}, echoed to its sender; fires with C{to}'s away message."""

    def set_away(user: User, text: str) -> Deferred[None]:
        """Mark C{user} away ("": back)."""

    def members(name: str) -> Deferred[Members]:
        """The members of the existing room C{name}."""

    def room_list() -> Deferred[tuple[str, ...]]:
        """The rooms with members, sorted case-insensitively."""

    def set_topic(user: User, room: Room, change: TopicSet) -> Deferred[None]:
        """Keep C{change} as C{room}'s topic, then tell the room."""

    def topic(name: str) -> Deferred[TopicIs]:
        """C{name}'s topic as a joiner gets it."""

    def online(nicks: Sequence[str]) -> Deferred[tuple[Presence, ...]]:
        """Which of C{nicks} are logged on, and whether they are away."""

    def page(room: Room, before: int | None, after: int | None,
             limit: int) -> Deferred[tuple[Sequence[What], bool]]:
        """Up to C{limit} lines of C{room}'s history, oldest first, and whether there are more beyond them."""

"""
The chat itself: users, nicknames, rooms and membership, with no I/O.

Every operation either raises L{ChatError} (the request is refused and
nothing changed) or returns the deliveries it causes: pairs of recipients and
the one typed event (L{chat.core.events}) they all receive.  The backend makes each one L{Event},
encoded once for every recipient, so this module decides *who hears what*
and nothing about *how*.  The checks both backends make (may this user log
on, rename, join, say this) are the functions at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from zope.interface import implementer

from chat.core.events import AccountChanged, AwayChanged, Joined, Left, MemberList, Private, Quit, Renamed, Said, TopicIs, TopicSet, What
from chat.message import PALETTE
from chat.limits import BucketTable
from chat.lookalike import look_keys
from chat.names import MAX_TOPIC, ChatError, check_nick, check_room, check_text, fold, reason_text
from chat.service import MAX_PAGE, IClient, IUser, Members

#: Rooms one client may be in at once.
MAX_ROOMS_PER_USER = 20
#: Rooms one nickname may create in an hour (each is kept while its history is).
MAX_NEW_ROOMS = 30
#: Nicknames whose room creations are remembered at most.
MAX_CREATORS = 10_000


@implementer(IUser)
class User:
    """A logged-on user and the connection it is reached through."""

    __slots__ = ("account", "away", "client", "key", "look", "nick", "realname", "rooms")

    def __init__(self, nick: str, client: IClient) -> None:
        self.nick = nick
        self.away: str | None = None
        #: The account the user is logged in to; None: none.
        self.account: str | None = None
        #: The real name its client gave (IRC's USER), or "".
        self.realname: str = client.realname
        self.key = fold(nick)
        self.look = look_keys(nick)
        self.client = client
        self.rooms: dict[str, Room] = {}

    def __repr__(self) -> str:
        return f"<User {self.nick}>"


class RoomCreationRefused(Exception):
    """A join would have created a room, and the service said the user may not create one now."""


class RoomCreations:
    """
    The rooms each nickname created lately, as a token bucket refilled over
    an hour: past C{per_hour}, creating one more is refused (joining a room
    that exists never is).  Both backends ration with it.
    """

    def __init__(self, per_hour: int = MAX_NEW_ROOMS) -> None:
        self.per_hour = per_hour
        self._buckets = BucketTable(per_hour / 3600, per_hour, MAX_CREATORS)

    @staticmethod
    def _keys(user: User) -> tuple[object, ...]:
        """
        Whose allowance a creation spends: the nickname's (a reconnection
        keeps it) and the connection's (a rename keeps it; by the client's
        id, so that no connection is kept alive here).
        """
        return user.key, id(user.client)

    def allowed(self, user: User, now: float) -> bool:
        """Whether C{user} may create a room now (nothing is counted)."""
        return not self.per_hour or all(self._buckets(k, now).available(now) >= 1 for k in self._keys(user))

    def check(self, user: User, now: float) -> None:
        """Raise L{ChatError} C{try-later} unless C{user} may create a room now."""
        if not self.allowed(user, now):
            wait = max((1 - self._buckets(k, now).available(now)) * 3600 / self.per_hour for k in self._keys(user))
            raise ChatError("try-later", f"you may create at most {self.per_hour} rooms an hour; join one "
                                         f"that exists, or try again in {int(wait) // 60 + 1} minutes")

    def count(self, user: User, now: float) -> None:
        """C{user} created a room."""
        if self.per_hour:
            for key in self._keys(user):
                self._buckets(key, now).take(now)

    def refund(self, user: User, now: float) -> None:
        """A creation counted ahead of its answer did not happen (the room existed, or the request failed)."""
        if self.per_hour:
            for key in self._keys(user):
                self._buckets(key, now).give_back()


class Room:
    """A named set of users with its own strictly increasing message ids."""

    __slots__ = ("key", "last_id", "members", "name")

    def __init__(self, name: str, last_id: int = 0) -> None:
        self.name = name
        self.key = fold(name)
        self.members: dict[str, User] = {}
        self.last_id = last_id

    def names(self) -> tuple[str, ...]:
        """The members' nicknames, in case-insensitive order (by their keys: nothing folded again)."""
        members = self.members
        return tuple(members[key].nick for key in sorted(members))

    def away(self) -> tuple[str, ...]:
        """The nicknames of the members who are away."""
        return tuple(user.nick for user in self.members.values() if user.away is not None)


Delivery = tuple[Iterable[User], What]


class ChatState:
    """
    All users and rooms of one server.  C{clock} returns seconds since the
    epoch (the reactor's C{seconds} in production, a fake in tests).
    """

    def __init__(self, clock: Callable[[], float], last_ids: dict[str, int] | None = None,
                 remember_empty: bool = True) -> None:
        self.clock = clock
        #: Whether an empty room where something was said is remembered (while its history is kept).
        self.remember_empty = remember_empty
        # When each empty room that is remembered (its topic, its ids) emptied.
        self.emptied_at: dict[str, float] = {}
        # Empty rooms forgotten (their topic dropped) since the backend last asked: it forgets the stored copy.
        self.forgotten: list[str] = []
        self.users: dict[str, User] = {}
        self.looks: dict[str, User] = {}  # the same users, by what their names look like
        self.rooms: dict[str, Room] = {}
        self.room_looks: dict[str, Room] = {}
        # Ids of rooms that emptied (or that the history remembers), so that a
        # room's ids keep growing when it fills again.
        self._last_ids: dict[str, int] = dict(last_ids or {})
        # Each room's topic (code 12), kept while the room is empty too.
        self.topics: dict[str, TopicIs] = {}
        # The room list as last asked for, until a room is made or emptied.
        self._room_list: tuple[str, ...] | None = None

    def continue_ids(self, last_ids: Mapping[str, int]) -> None:
        """Go on from the ids a room had (in the history), so that none is used twice."""
        for key, last in last_ids.items():
            room = self.rooms.get(key)
            if room is not None:
                room.last_id = max(room.last_id, last)
            else:
                self._last_ids[key] = max(self._last_ids.get(key, 0), last)

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    # -- nicknames ---------------------------------------------------------

    def find_user(self, nick: str) -> User | None:
        return self.users.get(fold(nick))

    def logon(self, nick: str, client: IClient, account: str | None = None) -> User:
        """Register C{nick} for C{client} (logged in to C{account}); unique case-insensitively."""
        nick, key = check_logon(self.users, nick, self.looks)
        user = User(nick, client)
        user.account = account
        self.users[key] = user
        for look in user.look:
            self.looks[look] = user
        return user

    def rename(self, user: User, new: str, account: str | None = None) -> list[Delivery]:
        """
        Change C{user}'s nickname (and the account it is logged in to with
        it).  The caller answers the user itself; the deliveries are the
        announcements to each room the user is in.
        """
        new, key = check_rename(self.users, user, new, self.looks)
        old, was = user.nick, user.account
        if new == old:
            return []  # no change: nothing to tell
        user.account = account
        del self.users[user.key]
        self._forget_look(user)
        for room in user.rooms.values():
            del room.members[user.key]
        user.nick, user.key, user.look = new, key, look_keys(new)
        self.users[key] = user
        for look in user.look:
            self.looks[look] = user
        deliveries: list[Delivery] = []
        rooms = tuple(room.name for room in user.rooms.values())
        for room in user.rooms.values():
            room.members[key] = user
            deliveries.append((tuple(room.members.values()), Renamed(room.name, old, new, rooms, account, was)))
        return deliveries

    def away_changed(self, user: User, text: str) -> list[Delivery]:
        """C{user} is away with C{text}, or back (""): each of its rooms is told."""
        user.away = text or None
        rooms = tuple(room.name for room in user.rooms.values())
        # The others are told; the user has its own answer (code 13).
        return [(tuple(u for u in room.members.values() if u is not user),
                 AwayChanged(room.name, user.nick, user.away, rooms)) for room in user.rooms.values()]

    def account_changed(self, user: User, account: str | None) -> list[Delivery]:
        """C{user} logged in to C{account} or out of its account: each of its rooms is told."""
        user.account = account
        rooms = tuple(room.name for room in user.rooms.values())
        return [(tuple(room.members.values()), AccountChanged(room.name, user.nick, account, rooms))
                for room in user.rooms.values()]

    # -- rooms -------------------------------------------------------------

    def find_room(self, name: str) -> Room | None:
        return self.rooms.get(fold(name))

    def join(self, user: User, name: str, may_create: bool = True) -> tuple[list[Delivery], bool]:
        """
        Join (and create on first join) room C{name} (checked: L{check_join});
        the deliveries, and whether the join created the room (one nobody
        remembers), which only a user who C{may_create} may do.
        """
        key = fold(name)
        room = self.rooms.get(key)
        created = False
        if room is None:
            looks = look_keys(name)
            twin = next((self.room_looks[look] for look in looks if look in self.room_looks), None)
            if twin is not None:
                raise ChatError("bad-room", f"{name} looks too much like the room {twin.name}: join that one")
            if key not in self._last_ids and key not in self.topics:
                if not may_create:
                    raise RoomCreationRefused(name)
                created = True
            room = self.rooms[key] = Room(name, self._last_ids.pop(key, 0))
            self.emptied_at.pop(key, None)
            for look in looks:
                self.room_looks[look] = room
            self._room_list = None
        room.members[user.key] = user
        user.rooms[key] = room
        deliveries: list[Delivery] = [
            (tuple(room.members.values()), Joined(room.name, user.nick, user.account, user.realname)),
            ((user,), MemberList(room.name, room.names(), room.away())),
        ]
        if user.away is not None:  # the others learn at once that the one joining is away
            deliveries.insert(1, (tuple(u for u in room.members.values() if u is not user),
                                  AwayChanged(room.name, user.nick, user.away, (room.name,))))
        topic = self.topics.get(key)
        if topic is not None:
            deliveries.append(((user,), topic))
        return deliveries, created

    def set_topic(self, room: Room, change: TopicSet) -> Delivery:
        """A new topic for C{room} (no text clears it); the room hears it."""
        if change.text:
            self.topics[room.key] = change.standing()
        else:
            self.topics.pop(room.key, None)
        return tuple(room.members.values()), change

    def topic(self, name: str) -> TopicIs:
        """The topic of room C{name} as a joiner gets it: no text if none is set."""
        room = self.find_room(check_room(name))
        topic = self.topics.get(fold(name))
        return topic or TopicIs(room.name if room else name)

    def _remove(self, user: User, room: Room) -> None:
        del room.members[user.key]
        del user.rooms[room.key]
        if not room.members:
            del self.rooms[room.key]
            for look in look_keys(room.name):
                if self.room_looks.get(look) is room:
                    del self.room_looks[look]
            self._room_list = None
            if room.last_id and self.remember_empty:  # a room where nothing was said leaves nothing behind ...
                self._last_ids[room.key] = room.last_id
                self.emptied_at[room.key] = self.clock()
            elif self.topics.pop(room.key, None) is not None:  # ... not even its topic
                self.forgotten.append(room.key)

    def forget_empty_rooms(self, gone: Iterable[str] = (), emptied_before: float | None = None) -> list[str]:
        """
        Forget the topics of empty rooms whose history is C{gone} (their
        keys), or that emptied before C{emptied_before}: the keys whose topic
        was dropped, for the backend to drop the stored copy.
        """
        doomed = {key for key in gone if key not in self.rooms}
        if emptied_before is not None:
            doomed.update(key for key, at in self.emptied_at.items() if at < emptied_before)
        dropped = []
        for key in doomed:
            self.emptied_at.pop(key, None)
            if self.topics.pop(key, None) is not None:
                dropped.append(key)
        return dropped

    def leave(self, user: User, room: Room, reason: str = "") -> list[Delivery]:
        """Leave one room (one C{user} is in); the leaver hears its own leave, as it heard its join."""
        recipients = tuple(room.members.values())
        self._remove(user, room)
        return [(recipients, Left(room.name, user.nick, reason))]

    def quit(self, user: User, why: str, announce: bool = True) -> list[Delivery]:
        """
        Remove C{user} from the chat (a clean quit or a lost connection): the
        members of each of its rooms hear C{why} (unless not C{announce}).
        Idempotent.
        """
        if self.users.get(user.key) is not user:
            return []
        deliveries: list[Delivery] = []
        rooms = tuple(room.name for room in user.rooms.values())
        for room in list(user.rooms.values()):
            self._remove(user, room)
            if room.members and announce:
                deliveries.append((tuple(room.members.values()), Quit(room.name, user.nick, why, rooms)))
        del self.users[user.key]
        self._forget_look(user)
        return deliveries

    def _forget_look(self, user: User) -> None:
        for look in user.look:
            if self.looks.get(look) is user:
                del self.looks[look]

    def members(self, name: str) -> Members:
        """The members of an existing room."""
        room = self.find_room(check_room(name))
        if room is None:
            raise ChatError("no-such-room", f"there is no room {name}")
        return Members(room.name, room.names(), room.away())

    def room_list(self) -> tuple[str, ...]:
        """Every room with members, case-insensitively sorted: made again only after a change."""
        if self._room_list is None:
            rooms = self.rooms
            self._room_list = tuple(rooms[key].name for key in sorted(rooms))
        return self._room_list

    # -- messages ----------------------------------------------------------

    def say(self, user: User, room: Room, text: str, color: str = "default", action: bool = False,
            notice: bool = False) -> tuple[Iterable[User], Said]:
        """A line (checked: L{check_say}) to a room the user is in: the hot path."""
        room.last_id += 1
        return room.members.values(), Said(room.name, user.nick, text, room.last_id, self._now_ms(), color, action,
                                           notice, False, user.account)

    def private(self, user: User, to: str, text: str, color: str = "default", action: bool = False,
                notice: bool = False) -> tuple[Sequence[User], Private]:
        """A private line (checked: L{check_private}), delivered to its target and echoed to its sender."""
        target = self.find_user(to)
        if target is None:
            raise ChatError("no-such-nick", f"nobody is called {to}")
        recipients: Sequence[User] = (user,) if target is user else (target, user)
        return recipients, Private(user.nick, target.nick, text, self._now_ms(), color, action, notice, False,
                                   user.account)


# -- the checks every backend makes -------------------------------------------


def check_logon(users: Mapping[str, User], nick: str, looks: Mapping[str, User] | None = None) -> tuple[str, str]:
    """The nickname and its key, if it is valid and not taken by one of C{users} (nor looks like one)."""
    nick = check_nick(nick)
    key = fold(nick)
    if key in users:
        raise ChatError("nick-in-use", f"the nickname {nick} is in use")
    _check_look(nick, None, looks)
    return nick, key


def check_rename(users: Mapping[str, User], user: User, new: str,
                 looks: Mapping[str, User] | None = None) -> tuple[str, str]:
    """The new nickname and its key, if C{user} may take it (its own, in another case, it may)."""
    new = check_nick(new)
    key = fold(new)
    holder = users.get(key)
    if holder is not None and holder is not user:
        raise ChatError("nick-in-use", f"the nickname {new} is in use")
    _check_look(new, user, looks)
    return new, key


def _check_look(nick: str, user: User | None, looks: Mapping[str, User] | None) -> None:
    """Refuse a nickname that looks like someone else's (Unicode's confusables: chat.lookalike)."""
    if looks is None:
        return
    for look in look_keys(nick):
        twin = looks.get(look)
        if twin is not None and twin is not user:
            raise ChatError("nick-in-use", f"the nickname {nick} looks too much like {twin.nick}, who is on")


def member_room(user: User, name: str) -> Room:
    """The room C{name} if C{user} is in it."""
    room = user.rooms.get(fold(name))
    if room is None:
        raise ChatError("not-in-room", f"you are not in {name}")
    return room


#: History ids are SQLite and Redis integers: from 0 to 2**63 - 1.
MAX_ID = 2**63 - 1


def check_page(before: int | None, after: int | None, limit: int) -> int:
    """
    The size of a history page (1 to L{MAX_PAGE}), refusing a request no
    backend can answer: both ends, or an id out of range.
    """
    if before is not None and after is not None:
        raise ChatError("bad-request", "give 'before' or 'after', not both")
    for value in (before, after):
        if value is not None and not 0 <= value <= MAX_ID:
            raise ChatError("bad-request", f"a message id is from 0 to {MAX_ID}")
    return max(1, min(limit, MAX_PAGE))


def leave_reason(reason: str) -> str:
    """A leaver's reason as its room is told it: one line, cut at L{MAX_TOPIC}."""
    return reason_text(reason)[:MAX_TOPIC]


def check_say(user: User, name: str, text: str, color: str | None) -> tuple[Room, str, str]:
    """The room, the colour and the text (L{check_text}) of a line C{user} may say there."""
    room = member_room(user, name)
    return room, check_color(color), check_text(text)


def check_private(text: str, color: str | None) -> tuple[str, str]:
    """The colour and the text (L{check_text}) of a private line, if it may be sent."""
    return check_color(color), check_text(text)


def check_join(user: User, name: str, max_rooms: int) -> tuple[str, str]:
    """The room name and its key, if C{user} may join it."""
    name = check_room(name)
    key = fold(name)
    if key in user.rooms:
        raise ChatError("already-in-room", f"you are already in {user.rooms[key].name}")
    if len(user.rooms) >= max_rooms:
        raise ChatError("too-many-rooms", f"you may be in at most {max_rooms} rooms")
    return name, key


def check_color(color: str | None) -> str:
    if color is None:
        return "default"
    if color not in PALETTE:
        raise ChatError("bad-color", f"colours are: {', '.join(PALETTE)}")
    return color

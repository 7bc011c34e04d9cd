"""
What every part of a cluster node (L{chat.cluster.node}) holds: its
connections to Redis, its place in the cluster, its local users and rooms,
and where it is in each stream.  The parts (the reader, the heartbeat)
extend it; the node puts them together.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.application import service
from twisted.internet import defer, interfaces
from twisted.logger import Logger

from chat.adapters import redis_connected
from chat.cluster.address import RedisAddress
from chat.state import Room, User

if TYPE_CHECKING:
    from chat.cluster.reader import _PendingJoin


class NodeBase(service.Service):
    """A cluster node's state, as each of its parts sees it."""

    log = Logger()

    clock: interfaces.IReactorTime
    address: RedisAddress
    advertise: str
    ttl: float
    replay: int
    prefix: str
    node_id: str
    inbox: str
    #: The connection for commands and scripts, and the one that blocks reading streams (txredisapi).
    commands: Any
    reader: Any
    registered: bool
    running: bool
    users: dict[str, User]
    rooms: dict[str, Room]
    cursors: dict[str, str]
    numbers: dict[str, int]
    pending: dict[tuple[str, str], _PendingJoin]
    joining: dict[str, int]
    held: dict[str, list[dict[str, str]]]
    written: dict[str, str]
    _ready: list[defer.Deferred[None]] | None
    _soon: interfaces.IDelayedCall | None
    _check_gaps: bool

    @property
    def connected(self) -> bool:
        return redis_connected(self.commands)

    def _joined(self) -> None:
        """The node is in the cluster: whoever waited for it may go on."""
        waiting, self._ready = self._ready, None
        for d in waiting or ():
            d.callback(None)

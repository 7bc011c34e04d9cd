"""
The node's place in the cluster: registered, kept alive by a heartbeat,
and removed (with its users) when it stops beating; a node that finds
itself removed closes its clients and joins again, empty.
"""

from __future__ import annotations

from twisted.internet import defer

from chat.cluster.base import NodeBase
from chat.cluster import scripts
from chat.names import ChatError


#: What rooms are told of the users of a node that stopped answering, or that stopped cleanly.
REAPED = "has lost the connection (its server stopped answering)"
UNREGISTERED = "left: its server stopped"


class ClusterUnavailable(ChatError):
    def __init__(self, text: str = "the server cannot reach the rest of the chat now; try again soon") -> None:
        super().__init__("cluster-unavailable", text)


#: Said to every client of a node the cluster took for dead.
REMOVED = "this server lost contact with the rest of the chat for too long; connect again"


class Heartbeat(NodeBase):
    """The heartbeat of a L{chat.cluster.node.ClusterNode} (its state is the node's)."""

    async def _beat(self) -> None:
        """Heartbeat, and removal of nodes that stopped beating."""
        if not self.connected:
            if not self.registered and self.running and not (self._soon and self._soon.active()):
                # Starting: join as soon as Redis answers, not a beat later (one poll at a time).
                self._soon = self.clock.callLater(0.05, self._beat_soon)
            return
        info = self.advertise
        ttl_ms = int(self.ttl * 1000)
        try:
            if not self.registered:
                await self.commands.eval(scripts.REGISTER, [], [self.prefix, self.node_id, info, ttl_ms])
                self.registered = True
                self.log.info("joined the cluster at {url} as node {node}", url=self.address.url, node=self.node_id)
                self._joined()
            elif not await self.commands.eval(scripts.BEAT, [], [self.prefix, self.node_id, info, ttl_ms]):
                self._removed()
                return
            reaped = await self.commands.eval(scripts.REAP, [], [self.prefix, int(self.ttl * 1000), REAPED])
            for node in reaped or ():
                self.log.warn("node {node} stopped answering: its users were removed", node=node)
        except Exception as e:  # noqa: BLE001 - the next beat tries again
            self.log.warn("cluster heartbeat failed: {e}", e=e)

    def _beat_soon(self) -> None:
        if not self.registered and self.running:
            defer.ensureDeferred(self._beat())

    def _removed(self) -> None:
        """
        The cluster took this node for dead (or Redis lost its data): its
        users are gone from the shared state.  Rather than chat on with
        nicknames others may now hold, close every client with the reason;
        the node then joins again, empty.
        """
        self.log.warn("this node was removed from the cluster: closing its clients")
        self.registered = False
        gone = ClusterUnavailable(REMOVED)
        for user in list(self.users.values()):
            user.client.disconnect(gone)
        self.users.clear()
        self.rooms.clear()
        self.pending.clear()
        self.joining.clear()
        self.held.clear()
        for key in list(self.cursors):
            if key != self.inbox:
                del self.cursors[key]
        self.numbers.clear()

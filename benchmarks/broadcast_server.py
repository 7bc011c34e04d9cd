"""
The floor: the least a Twisted server must do to broadcast.

Every frame (4-byte big-endian length + body, as in docs/protocol.md) that
any client sends is written, unchanged and unparsed, to every connected
client, the sender included, as the chat server echoes a room message to its
sender.  No logon, no rooms, no validation, no state but the set of
connections: whatever the chat server costs beyond this is the price of what
it does, so the benchmark reports the chat server as a ratio of this one.

On connecting, a client gets one greeting frame, so that a load generator
knows it is in the set (TCP completes a connect before the server has
accepted it).

    python benchmarks/broadcast_server.py [--port 0] [--interface 127.0.0.1]

It prints "broadcast server listening on HOST:PORT" once it listens.
"""

from __future__ import annotations

import argparse
import struct

from twisted.internet import reactor
from twisted.internet.protocol import Factory
from twisted.protocols.basic import Int32StringReceiver

#: The largest frame body of docs/protocol.md.
MAX_FRAME = 16 * 1024
GREETING = b'{"code":4}'
_header = struct.Struct("!I")


class Broadcast(Int32StringReceiver):
    """One client: whatever it sends goes to everyone."""

    MAX_LENGTH = MAX_FRAME
    factory: BroadcastFactory

    def connectionMade(self) -> None:
        self.transport.setTcpNoDelay(True)  # type: ignore[union-attr]
        self.factory.clients.add(self)
        self.sendString(GREETING)

    def connectionLost(self, reason: object = None) -> None:
        self.factory.clients.discard(self)

    def stringReceived(self, data: bytes) -> None:
        # Frame once, then one buffer append per recipient: the hot path.
        frame = _header.pack(len(data)) + data
        for client in self.factory.clients:
            client.transport.write(frame)  # type: ignore[union-attr,call-arg,misc]


class BroadcastFactory(Factory):
    protocol = Broadcast  # type: ignore[assignment]
    noisy = False

    def __init__(self) -> None:
        self.clients: set[Broadcast] = set()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="TCP port (0: the system picks one)")
    parser.add_argument("--interface", default="127.0.0.1", help="address to listen on")
    args = parser.parse_args()
    port = reactor.listenTCP(args.port, BroadcastFactory(), interface=args.interface)  # type: ignore[attr-defined,arg-type]
    address = port.getHost()  # type: ignore[misc]
    print(f"broadcast server listening on {address.host}:{address.port}", flush=True)
    reactor.run()  # type: ignore[attr-defined,misc]


if __name__ == "__main__":
    main()

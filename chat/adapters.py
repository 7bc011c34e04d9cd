"""
Every use of another library's private parts, in one place.  Each is here
because it was measured to matter or because the library offers no public
way; each has a test (tests/test_adapters.py) that fails loudly, naming the
library, when a new version changes what it relies on; and setup.py pins
each library to the range those tests passed on.

  - Twisted's TCP transport: writing straight to the socket while nothing
    waits in its buffer (two epoll_ctl calls and a turn of latency fewer
    per write: docs/performance.md);
  - Twisted's line and string receivers: stopping them from handing on
    input that has arrived (C{paused}, their own flag), while a client's
    request is answered;
  - Twisted's FilePasswordDB: the user names of a password file (to know
    which nicknames are registered);
  - Autobahn: a WebSocket text message's bytes, encoded once for every
    browser that receives it;
  - txredisapi: whether a connection is up, and how soon it reconnects.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet import tcp

# -- Twisted: the TCP transport ---------------------------------------------------


def socket_writer(transport: Any) -> Callable[[bytes], int | None]:
    """
    C{transport.write}, except that while nothing waits in the transport's
    buffer the bytes go straight to its socket.  Twisted's C{write} buffers
    them, registers the socket for writability and sends on the next turn:
    two C{epoll_ctl} calls and a turn of latency per write
    (docs/performance.md).  Whatever the socket does not take, and any
    failure, goes through C{write} as before, with its buffering, its
    backpressure (the outbox's producer is paused) and its error handling.
    Not a plain TCP connection (TLS, a test's transport): its own C{write}.
    Returns the bytes of C{data} left in Twisted's buffer (None: not known,
    all of them), which is what waits unread when the buffer is full.
    """
    write = transport.write
    if not isinstance(transport, tcp.Connection):
        return write

    def write_now(data: bytes) -> int:
        t = transport
        if (t._tempDataBuffer or t.offset != len(t.dataBuffer) or not t.connected or t.disconnecting
                or t._writeDisconnected or t._aborting or t.TLS):
            write(data)
            return len(data)
        sent = t.writeSomeData(data)
        if type(sent) is not int:  # the connection is lost: Twisted finds out and closes it as usual
            write(data)
            return len(data)
        if sent < len(data):
            write(data[sent:])
        return len(data) - sent

    return write_now


# -- Twisted: receivers ------------------------------------------------------------


def hold_input(receiver: Any, held: bool) -> None:
    """
    Stop (or let) a C{LineReceiver} or C{IntNStringReceiver} hand on what
    it has read: its C{paused} flag (twisted.protocols.basic's
    C{_PauseableMixin}), which its parser checks between lines and frames.
    """
    receiver.paused = held


def input_held(receiver: Any) -> bool:
    """Whether a receiver is held (L{hold_input})."""
    return bool(receiver.paused)


# -- Twisted: password files ----------------------------------------------------------


def password_file_users(checker: Any) -> Callable[[], list[bytes]] | None:
    """
    What reads again the user names a C{FilePasswordDB} holds; None for a
    checker that is not one.
    """
    load = getattr(checker, "_loadCredentials", None)
    if load is None:
        return None
    return lambda: [user for user, _ in load()]


# -- Autobahn ----------------------------------------------------------------------------


def websocket_text(payload: bytes) -> bytes:
    """One unmasked WebSocket text message (RFC 6455) holding C{payload}, as a server sends it."""
    from autobahn.websocket.protocol import PreparedMessage

    return bytes(PreparedMessage(payload, False, False, True).payloadHybi)


# -- txredisapi ------------------------------------------------------------------------------


def redis_connected(handler: Any) -> bool:
    """Whether a txredisapi lazy connection has a live connection now."""
    return handler is not None and bool(handler._factory.size > 0)


def redis_reconnect_delays(handler: Any, initial: float, maximum: float) -> None:
    """How soon a txredisapi lazy connection tries again after losing Redis (its factory's backoff)."""
    handler._factory.initialDelay = initial
    handler._factory.maxDelay = maximum

"""
The client's end of the wire: frames to CMsgs and back, PINGs answered, and
a keepalive of its own so that a server that vanished (no FIN, no RST) is
noticed instead of waited for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from OpenSSL import SSL
from service_identity import VerificationError
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IHandshakeListener, ISSLTransport
from twisted.internet.protocol import Factory
from twisted.protocols.basic import Int32StringReceiver
from twisted.protocols.policies import TimeoutMixin
from twisted.python.failure import Failure
from zope.interface import implementer

from chat.message import MAX_FRAME, CMsg, Code, ProtocolError, decode, frame

if TYPE_CHECKING:
    from chat.client.app import ChatClient


#: Seconds of silence from the server before the client PINGs it, and
#: seconds it then waits for any frame before giving the connection up.
IDLE_TIMEOUT = 60.0
PING_TIMEOUT = 30.0


@implementer(IHandshakeListener)
def tls_problem(reason: Failure) -> str:
    """Why a TLS handshake failed, in words a person can act on (not OpenSSL's error tuples)."""
    if reason.check(VerificationError):
        return ("the server's certificate is for another name than the one connected to: "
                "connect with the host name the certificate was made for")
    errors = getattr(reason.value, "args", [[]])[0]
    reasons = [e[2] for e in errors if isinstance(e, tuple) and len(e) == 3] if isinstance(errors, list) else []
    text = "; ".join(str(r) for r in reasons) or reason.getErrorMessage()
    if "certificate verify failed" in text:
        return ("the server's certificate is not one this client trusts (a self-signed one needs --ca with "
                "the server's certificate file)")
    if "certificate has expired" in text:
        return "the server's certificate has expired"
    if "alert" in text or "handshake failure" in text:
        return f"the server refused the TLS handshake ({text})"
    return text


class ChatClientProtocol(Int32StringReceiver, TimeoutMixin):
    MAX_LENGTH = MAX_FRAME
    client: ChatClient
    #: A TCP (or TLS) connection's transport: aborted, asked whether it is closing.
    transport: Any
    pinged = False
    heard = False  # any frame from the server yet

    def connectionMade(self) -> None:
        set_nodelay = getattr(self.transport, "setTcpNoDelay", None)
        if set_nodelay is not None:
            set_nodelay(True)
        self.setTimeout(IDLE_TIMEOUT)
        # Over TLS what is written now waits for the handshake, and goes only
        # if the server is verified; until then the status says so.
        self.client.connected(self, verified=not ISSLTransport.providedBy(self.transport))

    def handshakeCompleted(self) -> None:
        """TLS is up and the server's certificate and name were verified."""
        self.client.verified()

    def private(self) -> bool:
        """Whether what is sent stays secret: over TLS, or not leaving this machine."""
        if ISSLTransport.providedBy(self.transport):
            return True
        host = getattr(self.transport.getPeer(), "host", "")
        return host in ("127.0.0.1", "::1") or not isinstance(host, str) or not host[:1].isalnum()

    def timeoutConnection(self) -> None:
        if not self.pinged:
            self.pinged = True
            self.send(CMsg(Code.PING, text="keepalive"))
            self.setTimeout(PING_TIMEOUT)
            return
        self.client.protocol_error(f"the server has not answered for {IDLE_TIMEOUT + PING_TIMEOUT:g} seconds")
        self.transport.abortConnection()

    def send(self, msg: CMsg) -> None:
        self.transport.write(frame(msg))

    def stringReceived(self, data: bytes) -> None:
        if self.transport.disconnecting:
            return
        self.heard = True
        if self.pinged:
            self.pinged = False
            self.setTimeout(IDLE_TIMEOUT)
        else:
            self.resetTimeout()
        try:
            msg = decode(data)
        except ProtocolError as e:
            self.client.protocol_error(f"the server sent a frame this client cannot read ({e.text})")
            self.transport.loseConnection()
            return
        if msg.code == Code.PING:
            self.send(CMsg(Code.PONG, text=msg.text))
            return
        self.client.received(msg)

    def lengthLimitExceeded(self, length: int) -> None:
        self.client.protocol_error(f"the server sent an oversized frame ({length} bytes)")
        self.transport.loseConnection()

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self.setTimeout(None)
        why = reason.getErrorMessage() if reason is not None else "closed"
        tls = ISSLTransport.providedBy(self.transport)
        if reason is not None and reason.check(SSL.Error, VerificationError):
            if "wrong version number" in why or "packet length too long" in why:
                why = "the server does not speak TLS on this port: connect without --tls, or to its TLS port"
            else:
                why = f"TLS failed: {tls_problem(reason)}; nothing was sent"
        elif not tls and not self.heard:
            why = (f"the server closed the connection without a word ({why}): if this is its TLS port, "
                   "connect with --tls")
        elif reason is not None and reason.check(ConnectionDone):
            # Twisted says "closed cleanly" of any orderly close, a server killed mid-chat included;
            # a server that stops as it should says goodbye first, so this one did not.
            why = "the server closed the connection without saying goodbye (it may have stopped or crashed)"
        self.client.disconnected(self, why)


class ChatClientFactory(Factory):
    protocol = ChatClientProtocol
    noisy = False

    def __init__(self, client: ChatClient) -> None:
        self.client = client

    def buildProtocol(self, addr: object) -> ChatClientProtocol:
        proto = ChatClientProtocol()
        proto.factory = self
        proto.client = self.client
        proto.callLater = self.client.reactor.callLater  # type: ignore[assignment]  # TimeoutMixin's clock
        return proto

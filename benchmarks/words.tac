"""
Twisted's own IRC server (twisted.words) as a peer for the chat benchmark.

`twistd words --group` fails on Python 3 (its tap calls str.decode), and its
IRC front end has no anonymous logon, so this builds the same service by
hand: an in-memory realm that creates a channel on first JOIN, and a checker
that lets any nickname in with any password (clients send PASS first).

    twistd -n --pidfile= -y benchmarks/words.tac

WORDS_ENDPOINT picks the listener (default tcp:0:interface=127.0.0.1); the
log says "words server listening on HOST:PORT" once it listens.
"""

import os

from twisted.application import service
from twisted.cred import credentials, portal
from twisted.cred.checkers import ICredentialsChecker
from twisted.internet import defer, endpoints, reactor
from twisted.logger import Logger
from twisted.words import service as words
from zope.interface import implementer


@implementer(ICredentialsChecker)
class AnyoneChecker:
    """Every nickname, any password: the benchmark measures chat, not logon."""

    credentialInterfaces = (credentials.IUsernamePassword,)

    def requestAvatarId(self, creds):
        name = creds.username
        return defer.succeed(name.decode() if isinstance(name, bytes) else name)


class Listener(service.Service):
    """Listen when twistd starts the application, and say where."""

    log = Logger()

    def __init__(self, description, factory):
        self.description = description
        self.factory = factory

    def privilegedStartService(self):
        endpoint = endpoints.serverFromString(reactor, self.description)
        endpoint.listen(self.factory).addCallback(self._listening)
        super().privilegedStartService()

    def _listening(self, port):
        address = port.getHost()
        self.log.info("words server listening on {host}:{port}", host=address.host, port=address.port)


realm = words.InMemoryWordsRealm("bench")
realm.createGroupOnRequest = True
factory = words.IRCFactory(realm, portal.Portal(realm, [AnyoneChecker()]))

application = service.Application("words")
Listener(os.environ.get("WORDS_ENDPOINT", "tcp:0:interface=127.0.0.1"), factory).setServiceParent(application)

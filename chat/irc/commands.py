"""
The IRC commands this server takes, as one table (as Ergo's
C{irc/commands.go}): each command's handler, the parameters it needs, and
whether a client may send it before it is registered.  The protocol checks
all three before a handler runs (421, 461, 451).
"""

from __future__ import annotations

import attrs

#: Targets one command may name (advertised as ISUPPORT TARGMAX); each costs flood control what a line would.
TARGMAX = {"PRIVMSG": 4, "NOTICE": 4, "JOIN": 10, "PART": 10, "NAMES": 10}

#: Bytes of an AUTHENTICATE piece (IRCv3 sasl): a longer answer comes in several.
SASL_CHUNK = 400

#: Bytes of tags a client may send (IRCv3 message-tags), without the @ and the space.
MAX_CLIENT_TAGS = 4094


@attrs.frozen
class Command:
    """One command: its handler (a method of the protocol), its minimum parameters, whether it needs registration."""

    handler: str
    params: int = 0
    registered: bool = True


#: Every command, by name.  Commands whose missing parameters have an answer of their own (PRIVMSG's 411,
#: NICK's 431, PASS's 462 first) check them in their handler and need none here.
COMMANDS: dict[str, Command] = {
    # registration, and keeping the connection
    "CAP": Command("irc_CAP", registered=False),
    "AUTHENTICATE": Command("irc_AUTHENTICATE", registered=False),
    "PASS": Command("irc_PASS", registered=False),
    "NICK": Command("irc_NICK", registered=False),
    "USER": Command("irc_USER", registered=False),
    "PING": Command("irc_PING", 1, registered=False),
    "PONG": Command("irc_PONG", registered=False),
    "QUIT": Command("irc_QUIT", registered=False),
    # accounts
    "REGISTER": Command("irc_REGISTER", registered=False),  # before registration: FAIL ... COMPLETE_CONNECTION_REQUIRED
    "NICKSERV": Command("irc_NICKSERV"),
    "NS": Command("irc_NICKSERV"),
    # channels
    "JOIN": Command("irc_JOIN", 1),
    "PART": Command("irc_PART", 1),
    "NAMES": Command("irc_NAMES"),
    "WHO": Command("irc_WHO"),
    "LIST": Command("irc_LIST"),
    "TOPIC": Command("irc_TOPIC", 1),
    "MODE": Command("irc_MODE", 1),
    # lines
    "PRIVMSG": Command("irc_PRIVMSG"),
    "NOTICE": Command("irc_NOTICE"),
    "TAGMSG": Command("irc_TAGMSG"),
    "CHATHISTORY": Command("irc_CHATHISTORY", 4),
    # users and the server
    "ISON": Command("irc_ISON"),
    "USERHOST": Command("irc_USERHOST", 1),
    "WHOIS": Command("irc_WHOIS"),
    "AWAY": Command("irc_AWAY"),
    "LUSERS": Command("irc_LUSERS"),
    "MOTD": Command("irc_MOTD"),
}

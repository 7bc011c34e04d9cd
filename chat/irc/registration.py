"""
Registering an IRC client: capability negotiation (IRCv3 CAP), SASL PLAIN,
PASS, NICK and USER, then the logon and the welcome; and a registered
client's rename.
"""

from __future__ import annotations

import base64
from typing import cast

from twisted.internet import defer
from twisted.python.failure import Failure

from chat.irc.base import IRCConnection
from chat.irc.commands import SASL_CHUNK, TARGMAX
from chat.irc.numerics import (ERR_ALREADYREGISTERED, ERR_ERRONEUSNICKNAME, ERR_INVALIDCAPCMD, ERR_NOMOTD,
                               ERR_NONICKNAMEGIVEN, ERR_SASLABORTED, ERR_SASLALREADY, ERR_SASLFAIL, ERR_SASLTOOLONG,
                               NICK_ERRORS, RENAME_ERRORS, RPL_CREATED, RPL_ISUPPORT, RPL_LOGGEDIN, RPL_MYINFO,
                               RPL_SASLMECHS, RPL_SASLSUCCESS, RPL_WELCOME, RPL_YOUREOPER, RPL_YOURHOST)
from chat.ircformat import strip_formatting
from chat.irc.render import chat_nick, irc_nick, mask
from chat.names import MAX_NICK, MAX_ROOM
from chat.service import MAX_PAGE, IClient


#: Characters of a real name kept (USER's last parameter).
MAX_REALNAME = 100


class Registration(IRCConnection):
    """CAP, SASL, PASS, NICK, USER: what registers an IRC client, and a registered client's rename."""

    def _offered(self, version_302: bool) -> dict[str, str]:
        """The capabilities this server offers, with their values (sasl only where accounts are on)."""
        offered = {"server-time": "", "message-tags": "", "echo-message": "", "batch": "", "draft/chathistory": "",
                   "away-notify": ""}
        accounts = self.factory.accounts
        if accounts is not None and accounts.active:
            offered["sasl"] = "PLAIN" if version_302 else ""
            offered["extended-join"] = ""
            offered["account-notify"] = ""
            offered["account-tag"] = ""
        if accounts is not None and accounts.registration_open:
            offered["draft/account-registration"] = ""
        return offered

    def irc_CAP(self, params: list[str]) -> None:
        sub = params[0].upper() if params else ""
        me = f":{self.factory.server_name} CAP {self.target}"
        if sub == "LS":
            if self.user is None:
                self.negotiating = True
            offered = self._offered(len(params) > 1 and params[1].isdigit() and int(params[1]) >= 302)
            self.line(f"{me} LS :" + " ".join(f"{k}={v}" if v else k for k, v in offered.items()))
        elif sub == "LIST":
            self.line(f"{me} LIST :" + " ".join(sorted(self.caps)))
        elif sub == "REQ":
            if self.user is None:
                self.negotiating = True
            asked = params[1].split() if len(params) > 1 else []
            offered = self._offered(True)
            if asked and all(c.lstrip("-") in offered for c in asked):
                caps = set(self.caps)
                for c in asked:
                    caps.discard(c[1:]) if c.startswith("-") else caps.add(c)
                self.caps = frozenset(caps)
                self.line(f"{me} ACK :{' '.join(asked)}")
            else:
                self.line(f"{me} NAK :{' '.join(asked)}")
        elif sub == "END":
            self.negotiating = False
            self._register()
        else:
            self.reply(ERR_INVALIDCAPCMD, sub or "*", "Invalid CAP command")

    def irc_AUTHENTICATE(self, params: list[str]) -> None:
        """SASL PLAIN (IRCv3 sasl-3.1), checked against the same accounts as the native logon."""
        server = self.factory.server_name
        if self.sasl_account is not None:
            self.reply(ERR_SASLALREADY, "You have already authenticated using SASL")
            return
        if self.user is not None:
            self.reply(ERR_ALREADYREGISTERED, "You may not reregister")
            return
        if "sasl" not in self.caps:
            self.reply(ERR_SASLFAIL, "SASL authentication failed")
            return
        if not self._need(params, 1, "AUTHENTICATE"):
            return
        if params[0] == "*":
            self._sasl_mechanism, self._sasl_data = None, ""
            self.reply(ERR_SASLABORTED, "SASL authentication aborted")
            return
        if self._sasl_mechanism is None:
            if params[0].upper() != "PLAIN":
                self.reply(RPL_SASLMECHS, "PLAIN", "are available SASL mechanisms")
                self.reply(ERR_SASLFAIL, "SASL authentication failed")
                return
            self._sasl_mechanism = "PLAIN"
            self.line("AUTHENTICATE +")
            return
        # The answer comes in pieces of 400 bytes; a shorter piece (or "+") ends it.
        piece = "" if params[0] == "+" else params[0]
        if len(piece) > SASL_CHUNK:  # one piece too long: 905 (IRCv3 sasl-3.1)
            self._sasl_mechanism, self._sasl_data = None, ""
            self.reply(ERR_SASLTOOLONG, "SASL message too long")
            return
        self._sasl_data += piece
        if len(self._sasl_data) > 4 * SASL_CHUNK:  # too many pieces: the attempt fails (904)
            self._sasl_mechanism, self._sasl_data = None, ""
            self.reply(ERR_SASLFAIL, "SASL authentication failed")
            return
        if len(piece) == SASL_CHUNK:
            return
        data, self._sasl_mechanism, self._sasl_data = self._sasl_data, None, ""
        try:
            identity, account, password = base64.b64decode(data, validate=True).decode("utf-8").split("\0")
        except ValueError:
            self.reply(ERR_SASLFAIL, "SASL authentication failed")
            return
        accounts = self.factory.accounts
        assert accounts is not None
        if not account or identity not in ("", account):
            self.reply(ERR_SASLFAIL, "SASL authentication failed")
            return
        d = defer.Deferred.fromCoroutine(accounts.check(account, password, self.host))

        def authenticated(name: str | None) -> None:
            if name is None:  # only a registered nickname is an account
                self.reply(ERR_SASLFAIL, "SASL authentication failed")
                return
            self.sasl_account, self.password = name, password
            self.line(f":{server} {RPL_LOGGEDIN} {self.target} {mask(self.nick or name)} {name} "
                      f":You are now logged in as {name}")
            self.reply(RPL_SASLSUCCESS, "SASL authentication successful")

        d.addCallback(authenticated)
        self.waiting_for(d, lambda f: self.reply(ERR_SASLFAIL, "SASL authentication failed"))

    def irc_PASS(self, params: list[str]) -> None:
        if self.user is not None:
            self.reply(ERR_ALREADYREGISTERED, "You may not reregister")
        elif self._need(params, 1, "PASS"):
            self.password = params[0]

    def irc_USER(self, params: list[str]) -> None:
        if self.user is not None:
            self.reply(ERR_ALREADYREGISTERED, "You may not reregister")
        elif self._need(params, 4, "USER"):
            self.username = params[0]
            self.realname = strip_formatting(params[3])[:MAX_REALNAME]
            self._register()

    def irc_NICK(self, params: list[str]) -> None:
        if not params or not params[0]:
            self.reply(ERR_NONICKNAMEGIVEN, "No nickname given")
            return
        nick = params[0]
        if "." in nick:
            self.reply(ERR_ERRONEUSNICKNAME, nick, "an IRC nickname holds no '.' (write '|': a chat user a.b is a|b here)")
            return
        if self.user is None:
            self.nick = nick
            self._register()
            return
        if chat_nick(nick) == self.user.nick:
            return  # no change: nothing to say
        old = self.user.nick
        d = self.factory.service.rename(self.me, chat_nick(nick), self.password)

        def renamed(_: object) -> None:
            if self.user is not None and self.user.nick != old:
                self.nick = irc_nick(self.user.nick)
                if not self.channels:  # in a channel, its rooms tell the rename (L{deliver})
                    self.line(f":{mask(old)} NICK :{self.nick}")

        d.addCallback(renamed)
        self.waiting_for(d, lambda f: self._failed(f, RENAME_ERRORS, nick))

    def _register(self) -> None:
        if self.user is not None or self.registering or self.negotiating or not (self.nick and self.username):
            return
        self.registering = True
        d = defer.Deferred.fromCoroutine(self._logon(chat_nick(self.nick)))

        def refused(f: Failure) -> None:
            self._failed(f, NICK_ERRORS, self.nick or "*")

        def answered(result: object) -> object:
            self.registering = False
            return result

        d.addBoth(answered)
        self.waiting_for(d, refused)

    async def _logon(self, nick: str) -> None:
        # The password of PASS, or of SASL: the service checks it as it does every logon's.
        user = await self.factory.service.logon(nick, cast(IClient, self), self.password, self.sasl_account)
        if self.closing:
            self.quit(user)
            return
        self.user, self.nick = user, irc_nick(user.nick)
        self.log.info("{peer} logged on as {nick} (IRC)", peer=self.peer(), nick=user.nick)
        self._welcome()

    def _welcome(self) -> None:
        server, network = self.factory.server_name, self.factory.network
        self.reply(RPL_WELCOME, f"Welcome to the {network} chat, {self.nick}")
        self.reply(RPL_YOURHOST, f"Your host is {server}, running chat")
        self.reply(RPL_CREATED, "This server speaks the chat's rooms as channels")
        self.line(f":{server} {RPL_MYINFO} {self.nick} {server} chat i n")
        self.reply(RPL_ISUPPORT, "CASEMAPPING=rfc8265", "CHANTYPES=#", f"CHANNELLEN={MAX_ROOM + 1}",
                   f"NICKLEN={MAX_NICK}", f"NETWORK={network}", "PREFIX=", "CHANMODES=,,,",
                   "UTF8ONLY", f"CHATHISTORY={MAX_PAGE}", "TARGMAX=" + ",".join(f"{k}:{v}" for k, v in TARGMAX.items()), "MSGREFTYPES=msgid", "CLIENTTAGDENY=*", "are supported by this server")
        self.irc_LUSERS([])
        self.reply(ERR_NOMOTD, "MOTD File is missing")
        accounts = self.factory.accounts
        if self.user is not None and accounts is not None and accounts.is_oper(self.user.account):
            self.reply(RPL_YOUREOPER, "You are now a server operator")

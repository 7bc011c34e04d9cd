"""
Accounts on IRC: IRCv3 C{draft/account-registration}'s REGISTER, and a
NickServ for the clients and scripts that speak to one (C{/msg NickServ
REGISTER ...}, C{/ns IDENTIFY ...}).  Logging in is SASL PLAIN or PASS
(L{chat.irc.registration}); WHOIS shows the account (L{chat.irc.queries}).
"""

from __future__ import annotations

from typing import Any

from twisted.python.failure import Failure

from chat.irc.base import IRCConnection
from chat.irc.numerics import REGISTER_FAILS, RPL_LOGGEDIN
from chat.irc.render import chat_nick, irc_nick, mask
from chat.names import fold, refusal
from chat.service import SERVER_ERROR

#: What NickServ answers HELP with, one NOTICE a line.
NICKSERV_HELP = (
    "NickServ keeps this chat's accounts: an account is a nickname and its password.",
    "REGISTER <password>: register the nickname you have now",
    "IDENTIFY [nickname] <password>: log in (to another nickname: you take it)",
    "PASSWD <current password> <new password>: change your password",
    "DROP <password>: forget your account; the nickname is anyone's again",
    "You can also log in when you connect, with SASL PLAIN or PASS.",
)


def _refusal_text(failure: Failure, log: Any) -> str:
    """What NickServ says of a refused request (and the log, of a failure that is not a refusal)."""
    error = refusal(failure)
    if error is None:
        log.failure("a NickServ request failed", failure)
        return SERVER_ERROR
    return error.text


class Accounts(IRCConnection):
    """REGISTER and NickServ."""

    def _logged_in(self, account: str) -> None:
        """IRCv3: once registered, the client is as if it had authenticated with SASL."""
        assert self.user is not None
        self.line(f":{self.factory.server_name} {RPL_LOGGEDIN} {self.target} {mask(self.user.nick)} {account} "
                  f":You are now logged in as {account}")

    def irc_REGISTER(self, params: list[str]) -> None:
        """C{REGISTER <account|*> <email|*> <password>} (IRCv3 account-registration; no e-mail is needed)."""
        server = self.factory.server_name
        if self.user is None:
            self.line(f":{server} FAIL REGISTER COMPLETE_CONNECTION_REQUIRED :Register once you are connected")
            return
        if not self._need(params, 3, "REGISTER"):
            return
        account, password = params[0], params[2]
        if account != "*" and fold(chat_nick(account)) != fold(self.user.nick):
            self.line(f":{server} FAIL REGISTER ACCOUNT_NAME_MUST_BE_NICK {account} "
                      ":An account is named for your nickname: change nickname first")
            return
        if self.user.account is not None:
            self.line(f":{server} FAIL REGISTER ALREADY_AUTHENTICATED {self.user.account} "
                      ":You are logged in to an account already")
            return
        shown = account if account != "*" else (self.nick or "*")

        def registered(name: str) -> None:
            self.line(f":{server} REGISTER SUCCESS {name} :Account {name} registered")
            self._logged_in(name)

        def refused(failure: Failure) -> None:
            error = refusal(failure)
            if error is None:
                self.log.failure("an IRC REGISTER failed", failure)
                code, text = "TEMPORARILY_UNAVAILABLE", SERVER_ERROR
            else:
                code, text = REGISTER_FAILS.get(error.slug, "TEMPORARILY_UNAVAILABLE"), error.text
            self.line(f":{server} FAIL REGISTER {code} {shown} :{text}")

        d = self.factory.service.register(self.me, password)
        self.waiting_for(d.addCallback(registered), refused)

    # -- NickServ ---------------------------------------------------------------------

    def _from_nickserv(self, text: str) -> None:
        self.line(f":NickServ!NickServ@{self.factory.server_name} NOTICE {self.target} :{text}")

    def _nickserv_answer(self, d: Any, done: str) -> None:
        self.waiting_for(d.addCallback(lambda _: self._from_nickserv(done)),
                         lambda f: self._from_nickserv(_refusal_text(f, self.log)))

    def nickserv(self, text: str) -> None:
        """A line to NickServ (C{PRIVMSG NickServ}, C{NICKSERV}, C{NS}): its command, then its words."""
        words = text.split()
        command, args = (words[0].upper(), words[1:]) if words else ("HELP", [])
        service = self.factory.service
        if command == "REGISTER" and args:
            self._nickserv_answer(service.register(self.me, args[0]).addCallback(self._logged_in),
                                  f"Account {self.me.nick} registered; you are logged in to it")
        elif command == "IDENTIFY" and args:
            nick, password = (args[0], args[1]) if len(args) > 1 else (self.me.nick, args[0])
            if fold(chat_nick(nick)) == fold(self.me.nick) and self.me.account is not None:
                self._from_nickserv(f"You are logged in to {self.me.account} already")
                return
            # Logging in is taking the nickname with its password, as a rename does.
            d = service.rename(self.me, chat_nick(nick), password)
            self.waiting_for(d.addCallback(lambda _: self._renamed_by_nickserv()),
                             lambda f: self._from_nickserv(_refusal_text(f, self.log)))
        elif command in ("PASSWD", "PASSWORD") and len(args) >= 2:
            self._nickserv_answer(service.change_password(self.me, args[0], args[-1]), "Password changed")
        elif command in ("DROP", "UNREGISTER") and args:
            self._nickserv_answer(service.drop_account(self.me, args[-1]), "Account dropped; "
                                  "its nickname is anyone's again")
        else:
            for line in NICKSERV_HELP:
                self._from_nickserv(line)

    def _renamed_by_nickserv(self) -> None:
        """IDENTIFY took the nickname: tell the client its new nickname, and whether it is logged in now."""
        assert self.user is not None
        old = self.nick or "*"
        new = irc_nick(self.user.nick)
        if new != old:
            self.nick = new
            if not self.channels:  # in a channel, its rooms tell the rename
                self.line(f":{mask(old)} NICK :{new}")
        if self.user.account is None:  # a nickname nobody registered: nothing to log in to
            self._from_nickserv(f"{self.user.nick} has no account: REGISTER it, or IDENTIFY <account> <password>")
            return
        self._logged_in(self.user.account)
        self._from_nickserv(f"You are now logged in as {self.user.account}")

    def irc_NICKSERV(self, params: list[str]) -> None:
        self.nickserv(" ".join(params))

    irc_NS = irc_NICKSERV

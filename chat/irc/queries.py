"""
About users and the server (ISON, USERHOST, WHOIS, AWAY, LUSERS, MOTD) and
keeping the connection (PING, PONG, QUIT).
"""

from __future__ import annotations


from chat.irc.base import IRCConnection
from chat.irc.numerics import (ERR_NEEDMOREPARAMS, ERR_NOMOTD, ERR_NONICKNAMEGIVEN, ERR_NOSUCHNICK, RPL_AWAY, RPL_WHOISACCOUNT, RPL_WHOISOPERATOR,
                               RPL_ENDOFWHOIS, RPL_ISON, RPL_LUSERCLIENT, RPL_LUSERME, RPL_NOWAWAY, RPL_UNAWAY,
                               RPL_USERHOST, RPL_WHOISSERVER, RPL_WHOISUSER)
from chat.irc.render import irc_nick
from chat.ircformat import strip_formatting
from chat.service import Presence


class Queries(IRCConnection):
    """What an IRC client asks about users and the server, and how it keeps or ends its connection."""

    def irc_PING(self, params: list[str]) -> None:
        self.line(f":{self.factory.server_name} PONG {self.factory.server_name} :{params[0]}")

    def irc_PONG(self, params: list[str]) -> None:
        """Any line counts as a sign of life (L{heard})."""

    def irc_QUIT(self, params: list[str]) -> None:
        self.quit_with(params[0] if params else "")
        self.hold()

        def bye(_: object) -> None:
            self.leave_chat()
            self.close_with("ERROR :Closing link (quit)")

        self.factory.service.barrier().addBoth(bye)

    def irc_ISON(self, params: list[str]) -> None:
        asked = " ".join(params).split()
        if not asked:
            self.reply(ERR_NEEDMOREPARAMS, "ISON", "Not enough parameters")
            return
        self._online(asked, lambda found: self.reply(RPL_ISON, " ".join(irc_nick(p.nick) for p in found)))

    def irc_USERHOST(self, params: list[str]) -> None:
        def userhost(found: tuple[Presence, ...]) -> None:
            shown = (f"{irc_nick(p.nick)}={'-' if p.away else '+'}{irc_nick(p.nick)}@chat" for p in found)
            self.reply(RPL_USERHOST, " ".join(shown))

        self._online(params[:5], userhost)

    def irc_WHOIS(self, params: list[str]) -> None:
        if not params:
            self.reply(ERR_NONICKNAMEGIVEN, "No nickname given")
            return
        nick = params[-1]
        server = self.factory.server_name

        def whois(found: tuple[Presence, ...]) -> None:
            if not found:
                self.reply(ERR_NOSUCHNICK, nick, "No such nick")
                self.reply(RPL_ENDOFWHOIS, nick, "End of /WHOIS list")
                return
            who = found[0]
            shown = irc_nick(who.nick)
            self.reply(RPL_WHOISUSER, shown, shown, "chat", "*", who.realname or who.nick)
            self.reply(RPL_WHOISSERVER, shown, server, "chat")
            if who.away is not None:
                self.reply(RPL_AWAY, shown, who.away)
            if who.account is not None:
                accounts = self.factory.accounts
                if accounts is not None and accounts.is_oper(who.account):
                    self.reply(RPL_WHOISOPERATOR, shown, "is a server operator")
                self.reply(RPL_WHOISACCOUNT, shown, who.account, "is logged in as")
            self.reply(RPL_ENDOFWHOIS, shown, "End of /WHOIS list")

        self._online([nick], whois)

    def irc_AWAY(self, params: list[str]) -> None:
        text = strip_formatting(params[0]) if params else ""
        d = self.factory.service.set_away(self.me, text)

        def marked(_: object) -> None:
            if text.strip():
                self.reply(RPL_NOWAWAY, "You have been marked as being away")
            else:
                self.reply(RPL_UNAWAY, "You are no longer marked as being away")

        self.waiting_for(d.addCallback(marked), lambda f: self._failed(f, {}))

    def irc_LUSERS(self, params: list[str]) -> None:
        n = len(self.factory.connections)
        self.reply(RPL_LUSERCLIENT, f"There are {n} users and 0 invisible on 1 servers")
        self.reply(RPL_LUSERME, f"I have {n} clients and 0 servers")

    def irc_MOTD(self, params: list[str]) -> None:
        self.reply(ERR_NOMOTD, "MOTD File is missing")

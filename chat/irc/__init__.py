"""
The IRC front end: standard IRC clients (irssi, WeeChat, bots) in the same
rooms as everyone else.  Rooms are channels (room C{lobby} is C{#lobby}),
nicknames are the chat's own; each IRC command becomes a call on the chat
service and each event the service delivers becomes IRC lines (Modern IRC,
modern.ircdocs.horse; RFC 2812).

  commands.py      the table of commands: handler, parameters, registration
  protocol.py      the connection: input checked against the table, events out
  registration.py  CAP, SASL, PASS, NICK, USER, the welcome
  channels.py      JOIN, PART, NAMES, WHO, LIST, TOPIC, MODE
  messages.py      PRIVMSG, NOTICE, TAGMSG, CHATHISTORY
  queries.py       ISON, USERHOST, WHOIS, AWAY, LUSERS, MOTD, PING, QUIT
  render.py        events as IRC lines (pure)
  numerics.py      numerics by name
"""

from chat.irc.protocol import IRCFactory, IRCServerProtocol
from chat.irc.render import channel, chat_nick, irc_nick, render, room_of

__all__ = ["IRCFactory", "IRCServerProtocol", "channel", "chat_nick", "irc_nick", "render", "room_of"]

"""
Line mode, for scripts and bots (stdin not a terminal): each input line is
sent to the current room, each received line printed as C{[room] <nick> text}.
Lines go no faster than the server's default flood control takes them, so a
long input is never cut off for flooding; at its end the client quits and
waits for the server's goodbye, which comes once every line was taken.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.protocols.basic import LineReceiver
from twisted.python.failure import Failure
from zope.interface import implementer

from twisted.internet.interfaces import IReactorTime

from chat.client.app import ChatClient
from chat.client.logon import LogonForm
from chat.client.render import Event, ansi, plain, styled
from chat.limits import FLOOD_BURST, FLOOD_RATE, TokenBucket

#: Lines a second the pipe sends at most, and at once: under the server's defaults
#: (docs/protocol.md, flood control), so a script is slowed by itself, never cut off.
PIPE_RATE = 0.9 * FLOOD_RATE
PIPE_BURST = FLOOD_BURST // 2


@implementer(IHalfCloseableProtocol)
class PipeUI(LineReceiver):
    transport: Any  # standard output, once connected

    """
    Reads the logon form's answers first (if the command line left any
    question open), then chat lines.  A refused nickname ends the program
    with status 2: a script cannot answer questions.
    """

    delimiter = b"\n"
    MAX_LENGTH = 1024 * 1024

    def __init__(self, form: LogonForm, start: Callable[[PipeUI, LogonForm], ChatClient],
                 finish: Callable[[int], None], color: bool = False, clock: IReactorTime | None = None) -> None:
        if clock is None:
            from twisted.internet import reactor as clock
        self.clock: IReactorTime = clock  # type: ignore[assignment]
        self.pace = TokenBucket(self.clock.seconds(), PIPE_RATE, PIPE_BURST)
        self.form = form
        self.start = start
        self._finish = finish
        self.color = color
        self.client: ChatClient | None = None
        self.exit_code: int | None = None

    def connectionMade(self) -> None:
        self._next_question()

    def _next_question(self) -> None:
        prompt = self.form.prompt()
        if prompt is None:
            self.client = self.start(self, self.form)
        else:
            sys.stderr.write(prompt)
            sys.stderr.flush()

    def lineReceived(self, data: bytes) -> None:
        line = data.decode("utf-8", "replace").rstrip("\r")
        if self.client is None:
            why = self.form.answer(line)
            if why:
                sys.stderr.write(f"!! {why}\n")
            self._next_question()
            return
        self.client.line_entered(line)
        wait = self.pace.take(self.clock.seconds())
        if wait:  # read the next line once the server would take it
            self.pauseProducing()
            self.clock.callLater(wait, self.resumeProducing)

    def readConnectionLost(self) -> None:
        """End of input: leave cleanly, as /quit would."""
        if self.client is not None:
            self.client.quit("")
        else:
            self.finish(1 if self.form.prompt() else 0)

    def writeConnectionLost(self) -> None:
        """Nobody reads our output any more."""
        if self.client is not None:
            self.client.quit("")

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self._finish(self.exit_code if self.exit_code is not None else 1)

    # -- View --------------------------------------------------------------

    def show(self, event: Event) -> None:
        text = ansi(styled(event, show_room=True)) if self.color else plain(event)
        self.transport.write(text.encode("utf-8") + b"\n")

    def status_changed(self) -> None:
        pass

    def ask_nickname(self) -> None:
        self.show(Event("error", "nickname refused; start again with another --nick"))
        self.finish(2)

    def ask_password(self, prompt: str = "Password") -> None:
        self.show(Event("error", "password refused or missing; set CHAT_PASSWORD or --password-file"))
        self.finish(2)

    def finish(self, code: int) -> None:
        """Flush what is left to print, then end with C{code}."""
        if self.exit_code is None:
            self.exit_code = code
            self.transport.loseConnection()

"""
The full-screen terminal UI on Twisted conch's insults/recvline: a scrolling
region for chat lines, a status line, and an input line with history that
incoming messages never break (they are drawn inside the scroll region,
with the cursor put back on the input line after each).

    rows 0 .. h-3   chat lines (a VT100 scroll region)
    row  h-2        status: nick | room | connection state
    row  h-1        the input line
"""

from __future__ import annotations

import codecs
from collections import deque
from collections.abc import Callable, Sequence
from typing import cast, overload

from twisted.conch.insults.insults import ServerProtocol
from twisted.internet.interfaces import IDelayedCall, IReactorTime

from chat.client import commands
from chat.client.app import ChatClient
from chat.client.editing import EditedLine
from chat.client.logon import LogonForm
from chat.client.render import Event, NickColors, Span, ansi, cells, char_cells, input_window, wrap
from chat.client.windows import Window, Windows

CTRL_C, CTRL_D, CTRL_L = b"\x03", b"\x04", b"\x0c"
CTRL_A, CTRL_E, CTRL_K, CTRL_U, CTRL_W = b"\x01", b"\x05", b"\x0b", b"\x15", b"\x17"
CTRL_N, CTRL_P = b"\x0e", b"\x10"



class _Shown(Sequence[str]):
    """
    The input line's characters as drawn (stars for a password), decoded only
    where looked at: drawing a long line reads only the part on screen.
    """

    def __init__(self, buffer: list[bytes], masked: bool) -> None:
        self.buffer, self.masked = buffer, masked

    def _one(self, ch: bytes) -> str:
        return "*" if self.masked else ch.decode("utf-8", "replace")

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...

    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [self._one(ch) for ch in self.buffer[i]]
        return self._one(self.buffer[i])

    def __len__(self) -> int:
        return len(self.buffer)


class ChatTerminal(Windows, EditedLine):
    ps = (b"> ", b"> ")

    def __init__(self, form: LogonForm, start: Callable[[ChatTerminal, LogonForm], ChatClient],
                 finish: Callable[[int], None], size: tuple[int, int], clock: IReactorTime | None = None,
                 closed: Callable[[], None] | None = None) -> None:
        if clock is None:
            from twisted.internet import reactor as default
            clock = cast(IReactorTime, default)
        self.clock: IReactorTime = clock
        self._redraw: IDelayedCall | None = None
        self.form = form
        self.start = start
        self._finish = finish
        self._closed = closed
        #: The last error shown: main prints it again below the chat once the screen is left.
        self.last_error: str | None = None
        self.width, self.height = size
        self.client: ChatClient | None = None
        self._utf8 = codecs.getincrementaldecoder("utf-8")("replace")
        self._prompt = b"> "
        self.masked = False
        # The first character of the input line on screen: a line wider
        # than the terminal scrolls sideways under the cursor.
        self._scroll = 0
        # Every line shown, to draw again (Ctrl-L, a resize) and to scroll
        # back through; and how many screen rows the view is above the newest.
        self.nick_colors = NickColors()
        # One window per room and private conversation, switched with
        # Alt-1..9, Ctrl-N/Ctrl-P or /window N; each keeps its own lines.
        self.windows: list[Window] = [Window("status", "")]
        self.active = 0
        self._followed: str | None = None  # the client's current room the last time we looked
        self.back = 0
        # Lines entered in one turn of the reactor (a paste), and a paste
        # waiting for the person to say whether to send it.
        self._burst: list[str] = []
        self._burst_call: IDelayedCall | None = None
        self._pasted: list[str] | None = None
        # Keys typed while the paste question is asked, gathered for a turn: one key alone is the answer.
        self._paste_keys: list[object] = []
        self._paste_call: IDelayedCall | None = None

    # -- layout --------------------------------------------------------------

    def initializeScreen(self) -> None:
        t = self.terminal
        self.keyHandlers.update({
            t.PGUP: self.handle_PGUP, t.PGDN: self.handle_PGDN,
            CTRL_A: self.handle_HOME, CTRL_E: self.handle_END,
            CTRL_U: self.handle_KILL_BEFORE, CTRL_K: self.handle_KILL_AFTER, CTRL_W: self.handle_KILL_WORD,
        })
        t.reset()
        self.setInsertMode()
        self._layout()
        self._ask_or_start()

    def terminalSize(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self._layout()

    def _layout(self) -> None:
        t = self.terminal
        t.eraseDisplay()
        t.setScrollRegion(1, max(1, self.height - 2))
        self._draw_chat()
        self.status_changed()
        self.drawInputLine()

    def _chat_rows(self) -> int:
        return max(1, self.height - 2)

    def _draw_chat(self) -> None:
        """The chat area from the scrollback: the newest rows, or those PageUp went back to."""
        rows = self._chat_rows()
        wanted = rows + self.back
        shown: list[list[Span]] = []
        for spans in reversed(self.scrollback):
            shown[:0] = wrap(spans, max(1, self.width))
            if len(shown) >= wanted:
                break
        self.back = min(self.back, max(0, len(shown) - rows))
        visible = shown[max(0, len(shown) - rows - self.back): len(shown) - self.back]
        t = self.terminal
        top = rows - len(visible)
        for y in range(rows):
            t.cursorPosition(0, y)
            t.eraseLine()
            if y >= top:
                t.write(ansi(visible[y - top]).encode("utf-8"))
        self._place_cursor()

    def _shown(self) -> _Shown:
        return _Shown(self.lineBuffer, self.masked)

    def _prompt_cells(self) -> int:
        return cells(self._prompt.decode("utf-8", "replace"))

    def drawInputLine(self) -> None:
        t = self.terminal
        shown = self._shown()
        start, end = input_window(shown, self.lineBufferIndex, self.width - self._prompt_cells(), self._scroll)
        self._scroll = start
        t.cursorPosition(0, self.height - 1)
        t.eraseLine()
        t.write(self._prompt + "".join(shown[start:end]).encode("utf-8"))
        self._place_cursor()

    def _place_cursor(self) -> None:
        """
        Put the cursor back where the person is typing.  (Explicitly, rather
        than with save/restore cursor, which some emulators clamp into the
        scroll region.)
        """
        before = self._shown()[self._scroll: self.lineBufferIndex]
        typed = sum(char_cells(ch) for ch in before)
        self.terminal.cursorPosition(self._prompt_cells() + typed, self.height - 1)

    def _set_prompt(self, prompt: str) -> None:
        self._prompt = prompt.encode("utf-8")
        self.drawInputLine()

    # -- output: above the input line, never through it ----------------------

    @property
    def scrollback(self) -> deque[list[Span]]:
        return self.windows[self.active].lines

    def _print(self, spans: list[Span], window: Window | None = None) -> None:
        if window is not None and window is not self.windows[self.active]:
            window.lines.append(spans)  # seen when that window is
            return
        self.scrollback.append(spans)
        if self.back:
            self.back += len(wrap(spans, max(1, self.width)))  # the view stays where it was
            self.status_changed()  # which says there is more below
            return
        t = self.terminal
        t.cursorPosition(0, self.height - 3)
        t.write(b"\n\r" + ansi(spans).encode("utf-8"))
        self._place_cursor()

    def handle_PGUP(self) -> None:
        wanted = self.back + max(1, self._chat_rows() - 1)
        self.back = wanted
        self._draw_chat()
        window = self.windows[self.active]
        if self.back < wanted and self.client is not None and window.key and not window.private:
            # At the top of what this window holds: the server has what came before.
            window.older = 0
            if self.client.fetch_older(window.name):
                # A mark where the older lines will go (above it), in view now.
                window.lines.appendleft([Span("-- older lines, from the server, above: PageUp --", dim=True)])
                self._draw_chat()
        self.status_changed()

    def handle_PGDN(self) -> None:
        self.back = max(0, self.back - max(1, self._chat_rows() - 1))
        self._draw_chat()
        self.status_changed()

    def modified_arrow(self, arrow: bytes, held: str) -> None:
        """Alt-Left/Right: the previous / next window; Ctrl-Left/Right: a word back / forward."""
        step = -1 if arrow == b"LEFT" else 1
        if held == "alt":
            self.switch_window((self.active + step) % len(self.windows) + 1)
        else:
            self._word(step)

    def status_changed(self) -> None:
        if self.client is not None and hasattr(self, "windows"):
            self._follow_client()
        text = self.client.status() if self.client else " logon "
        if len(self.windows) > 1:
            text += f"| {self._activity()} "
        if self.back:
            text += "| scrolled back: PageDown for newer lines "
        t = self.terminal
        t.cursorPosition(0, self.height - 2)
        t.eraseLine()
        t.write(ansi([Span(text.ljust(self.width)[: self.width], reverse=True)]).encode("utf-8"))
        self._place_cursor()

    def ask_nickname(self) -> None:
        self._set_prompt("Nickname: ")

    #: A password typed here is not shown (L{ask_password}).
    hides_input = True

    def ask_password(self, prompt: str = "Password") -> None:
        self.masked = True
        self._set_prompt(f"{prompt}: ")

    def characterReceived(self, ch: bytes, moreCharactersComing: bool) -> None:
        # Typed in place while the line fits (each character is at most two
        # columns); drawn again once it may not, so that it scrolls sideways.
        # Typing over a character (INSERT toggles it) is drawn again too: the
        # one replaced may be of another width.
        fits = self._scroll == 0 and self._prompt_cells() + 2 * (len(self.lineBuffer) + 1) < self.width
        fits = fits and (self.masked or self.mode == "insert")
        if fits and not self.masked:
            super().characterReceived(ch, moreCharactersComing)
            return
        if self.mode == "insert":
            self.lineBuffer.insert(self.lineBufferIndex, ch)
        else:
            self.lineBuffer[self.lineBufferIndex: self.lineBufferIndex + 1] = [ch]
        self.lineBufferIndex += 1
        if fits:
            self.terminal.write(b"*")
        elif self._redraw is None:
            # Once for all the keys of this turn: a paste is one drawing.
            self._redraw = self.clock.callLater(0, self._draw_later)

    def connectionLost(self, reason: object) -> None:
        for call in (self._redraw, self._burst_call, self._paste_call):
            if call is not None and call.active():
                call.cancel()
        self._redraw = self._burst_call = self._paste_call = None
        super().connectionLost(reason)
        if self._closed is not None:
            self._closed()

    def _draw_later(self) -> None:
        self._redraw = None
        self.drawInputLine()

    def finish(self, code: int) -> None:
        self._finish(code)

    # -- logon form ----------------------------------------------------------

    def _ask_or_start(self) -> None:
        prompt = self.form.prompt()
        if prompt is not None:
            self._set_prompt(prompt)
            return
        self._set_prompt("> ")
        self.client = self.start(self, self.form)
        self.status_changed()

    # -- input ---------------------------------------------------------------

    def keystrokeReceived(self, keyID: bytes, modifier: object) -> None:
        if modifier == self.terminal.ALT and isinstance(keyID, bytes):
            if keyID.isdigit() and keyID != b"0":
                self.switch_window(int(keyID))  # Alt-1..9
            elif keyID in (b"b", b"f"):
                self._word(-1 if keyID == b"b" else 1)  # Alt-B, Alt-F
            return
        if keyID in (CTRL_N, CTRL_P):
            step = 1 if keyID == CTRL_N else -1
            self.switch_window((self.active + step) % len(self.windows) + 1)
            return
        if keyID in (CTRL_C, CTRL_D) and not (keyID == CTRL_D and self.lineBuffer):
            if self.client is not None:
                self.client.quit("", now=True)
            else:
                self.finish(0)
            return
        if self._pasted is not None:
            self._paste_key(keyID)
            return
        if keyID == CTRL_L:
            self._layout()
            return
        if isinstance(keyID, bytes) and len(keyID) == 1 and keyID[0] >= 0x80:
            ch = self._utf8.decode(keyID)
            if ch:
                self.characterReceived(ch.encode("utf-8"), False)
            return
        super().keystrokeReceived(keyID, modifier)

    def handle_TAB(self) -> None:
        """Complete the nickname, command or room being typed; several that fit are listed."""
        if self.client is None or self.masked:
            return
        chars = [ch.decode("utf-8", "replace") for ch in self.lineBuffer]
        line, cursor, choices = self.client.complete("".join(chars), len("".join(chars[:self.lineBufferIndex])))
        self.lineBuffer = [ch.encode("utf-8") for ch in line]
        self.lineBufferIndex = len(line[:cursor])
        if choices:
            self.show(Event("info", "  ".join(choices)))
        self.drawInputLine()

    def _deliverBuffer(self, buf: bytes) -> None:
        # A recalled line (UP, DOWN), drawn once by the caller.  One buffer
        # element per character (not per byte), so that the cursor keys move
        # over whole characters.
        chars = [ch.encode("utf-8") for ch in buf.decode("utf-8", "replace")]
        self.lineBuffer[self.lineBufferIndex: self.lineBufferIndex] = chars
        self.lineBufferIndex += len(chars)

    def handle_RETURN(self) -> None:
        line = b"".join(self.lineBuffer)
        if self.masked:  # a password: kept out of the history
            self.masked = False
            self.lineBuffer, self.lineBufferIndex, self._scroll = [], 0, 0
            self._set_prompt("> ")
            assert self.client is not None
            self.client.line_entered(line.decode("utf-8", "replace"))
            return
        if line and not commands.holds_secret(line.decode("utf-8", "replace")):
            self.historyLines.append(line)
        self.historyPosition = len(self.historyLines)
        self.lineBuffer = []
        self.lineBufferIndex = 0
        self._scroll = 0
        text = line.decode("utf-8", "replace")
        if self.client is None:
            why = self.form.answer(text)
            if why:
                self._print([Span("!! " + why, color="red", bold=True)])
            self._ask_or_start()
            return
        if self.client.asking_nick:
            self._set_prompt("> ")
        else:
            self.drawInputLine()
        # Lines that come in the same turn are a paste: seen as a whole first.
        self._burst.append(text)
        if self._burst_call is None:
            self._burst_call = self.clock.callLater(0, self._end_of_burst)

    def _end_of_burst(self) -> None:
        lines, self._burst, self._burst_call = self._burst, [], None
        assert self.client is not None
        if len(lines) == 1:
            self.client.line_entered(lines[0])
            return
        self._pasted = lines
        self.show(Event("info", f"you pasted {len(lines)} lines; they are sent as text (commands too) if you say so"))
        self._set_prompt(f"Send {len(lines)} pasted lines? (y/n, no Enter) ")

    def _paste_key(self, key: object) -> None:
        """A key while the paste question is asked: the answer if it comes alone in its turn."""
        self._paste_keys.append(key)
        if self._paste_call is None:
            self._paste_call = self.clock.callLater(0, self._paste_keys_read)

    def _paste_keys_read(self) -> None:
        keys, self._paste_keys, self._paste_call = self._paste_keys, [], None
        key = keys[0] if len(keys) == 1 else None
        if isinstance(key, bytes) and key in (b"y", b"Y", b"n", b"N"):
            self._answer_paste(key.decode("ascii"))
        elif len(keys) > 1:
            # Another paste, not an answer: nothing of it is sent, and the question stands.
            self.show(Event("info", "that looked like another paste: it was ignored; answer y or n"))

    def _answer_paste(self, answer: str) -> None:
        lines, self._pasted = self._pasted or [], None
        self._set_prompt("> ")
        assert self.client is not None
        if answer.strip().lower() not in ("y", "yes"):
            self.show(Event("info", f"{len(lines)} pasted lines dropped"))
            return
        for line in lines:
            # As text, whatever it starts with: a pasted /quit does not quit.
            self.client.line_entered("/" + line if line.startswith("/") else line)


class ChatServerProtocol(ServerProtocol):
    """
    insults' terminal, also telling apart the arrow keys with Alt or Ctrl
    held (xterm's C{ESC [ 1 ; 3 D} and C{ESC [ 1 ; 5 D}), which it reads as
    plain arrows: Alt-Left/Right switch windows, Ctrl-Left/Right move by words.
    """

    _MODIFIED = {b"\x1b[1;3D": (b"LEFT", "alt"), b"\x1b[1;3C": (b"RIGHT", "alt"),
                 b"\x1b[1;5D": (b"LEFT", "ctrl"), b"\x1b[1;5C": (b"RIGHT", "ctrl")}

    def _handleControlSequence(self, buf: bytes) -> None:
        modified = self._MODIFIED.get(b"\x1b[" + buf)
        if modified is not None and isinstance(self.terminalProtocol, ChatTerminal):
            self.terminalProtocol.modified_arrow(*modified)
            return
        super()._handleControlSequence(buf)

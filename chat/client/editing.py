"""
The terminal's input line, edited as readline edits it: Ctrl-U/K/W, words
with Alt-B/F, and the line drawn again after every move (recvline moves the
cursor one column per character; CJK and most emoji take two).
"""

from __future__ import annotations

from twisted.conch.recvline import HistoricRecvLine


class EditedLine(HistoricRecvLine):
    """conch's line with history, and the edits people expect of a shell."""

    def handle_KILL_BEFORE(self) -> None:
        """Ctrl-U: delete from the start of the line to the cursor."""
        del self.lineBuffer[:self.lineBufferIndex]
        self.lineBufferIndex = 0
        self.drawInputLine()

    def handle_KILL_AFTER(self) -> None:
        """Ctrl-K: delete from the cursor to the end of the line."""
        del self.lineBuffer[self.lineBufferIndex:]
        self.drawInputLine()

    def _word(self, direction: int) -> None:
        """Alt-B / Alt-F: the cursor to the start of the word before, or past the end of the one after."""
        buf, i = self.lineBuffer, self.lineBufferIndex
        if direction < 0:
            while i and buf[i - 1] == b" ":
                i -= 1
            while i and buf[i - 1] != b" ":
                i -= 1
        else:
            while i < len(buf) and buf[i] == b" ":
                i += 1
            while i < len(buf) and buf[i] != b" ":
                i += 1
        self.lineBufferIndex = i
        self.drawInputLine()

    def handle_KILL_WORD(self) -> None:
        """Ctrl-W: delete the word before the cursor (and the spaces after it)."""
        i = self.lineBufferIndex
        while i and self.lineBuffer[i - 1] == b" ":
            i -= 1
        while i and self.lineBuffer[i - 1] != b" ":
            i -= 1
        del self.lineBuffer[i:self.lineBufferIndex]
        self.lineBufferIndex = i
        self.drawInputLine()

    def handle_LEFT(self) -> None:
        super().handle_LEFT()
        self.drawInputLine()

    def handle_RIGHT(self) -> None:
        super().handle_RIGHT()
        self.drawInputLine()

    def handle_HOME(self) -> None:
        super().handle_HOME()
        self.drawInputLine()

    def handle_END(self) -> None:
        super().handle_END()
        self.drawInputLine()

    def handle_BACKSPACE(self) -> None:
        super().handle_BACKSPACE()
        self.drawInputLine()

    def handle_DELETE(self) -> None:
        super().handle_DELETE()
        self.drawInputLine()

    def handle_UP(self) -> None:
        super().handle_UP()
        self.drawInputLine()

    def handle_DOWN(self) -> None:
        super().handle_DOWN()
        self.drawInputLine()

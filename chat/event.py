"""
What the chat tells its users, as one value that any front end can render:
a L{CMsg}, encoded at most once however many people receive it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from chat.message import CMsg, decode, encode, frame, framed

_R = TypeVar("_R")


class Event:
    """
    One thing users are told: a message, a join, a member list...  A backend
    makes it from a L{CMsg} (one process) or from the JSON body that was
    stored or read from the cluster; each form is derived once, on first
    use, so a broadcast to a hundred people is still encoded once.
    """

    __slots__ = ("_body", "_frame", "_msg", "_renderings")

    def __init__(self, msg: CMsg | None = None, body: bytes | None = None) -> None:
        if msg is None and body is None:
            raise TypeError("an Event needs a CMsg or its encoded body")
        self._msg = msg
        self._body = body
        self._frame: bytes | None = None
        self._renderings: dict[str, object] | None = None

    @property
    def msg(self) -> CMsg:
        msg = self._msg
        if msg is None:
            assert self._body is not None
            msg = self._msg = decode(self._body)
        return msg

    @property
    def body(self) -> bytes:
        """The JSON body (what a WebSocket message or a stored row holds)."""
        body = self._body
        if body is None:
            assert self._msg is not None
            body = self._body = encode(self._msg)
        return body

    @property
    def frame(self) -> bytes:
        """The native protocol's bytes: length-prefixed, a long list split into several frames."""
        data = self._frame
        if data is None:
            if self._msg is not None and self._msg.names:
                data = frame(self._msg)  # may be several frames
            else:
                data = framed(self.body)
            self._frame = data
        return data

    def rendered(self, form: str, render: Callable[[CMsg], _R]) -> _R:
        """
        This event in another front end's form (C{render} of its message),
        computed once per event, however many of that front end's clients
        receive it.
        """
        renderings = self._renderings
        if renderings is None:
            renderings = self._renderings = {}
        elif form in renderings:
            return renderings[form]  # type: ignore[return-value]
        result = renderings[form] = render(self.msg)
        return result

    def __repr__(self) -> str:
        return f"<Event {self.msg!r}>"

"""
What the chat tells its users, as one value that any front end can render:
a L{CMsg}, encoded at most once however many people receive it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from chat.message import MAX_FRAME, CMsg, decode, encode, frame, framed

_R = TypeVar("_R")


class Event:
    """
    One thing users are told: a message, a join, a member list...  A backend
    makes it from a L{CMsg} (one process) or from the JSON body that was
    stored or read from the cluster.  It is encoded once, when it is made
    (the body is what is stored, C{frame} what native clients get: a plain
    attribute, read at C speed for each recipient); the message is decoded,
    and other front ends' forms rendered, once on first use.
    """

    __slots__ = ("_msg", "_renderings", "body", "frame")

    def __init__(self, msg: CMsg | None = None, body: bytes | None = None) -> None:
        if body is None:
            if msg is None:
                raise TypeError("an Event needs a CMsg or its encoded body")
            body = encode(msg)
        self._msg = msg
        #: The JSON body (what a WebSocket message or a stored row holds).
        self.body = body
        #: The native protocol's bytes: length-prefixed; a list too long for one frame is several.
        self.frame = frame(msg) if msg is not None and msg.names and len(body) > MAX_FRAME else framed(body)
        self._renderings: dict[str, object] | None = None

    @property
    def msg(self) -> CMsg:
        msg = self._msg
        if msg is None:
            msg = self._msg = decode(self.body)
        return msg

    def rendered(self, form: str, render: Callable[[CMsg], _R]) -> _R:
        """
        This event in another front end's form (C{render} of its message),
        computed once per event, however many of that front end's clients
        receive it.
        """
        renderings = self._renderings
        if renderings is not None and form in renderings:
            return renderings[form]  # type: ignore[return-value]
        return self._keep(form, render(self.msg))

    def reframed(self, form: str, reframe: Callable[[bytes], bytes]) -> bytes:
        """
        This event's native frame(s) carried another way (C{reframe}: as
        WebSocket messages...), computed once per event.
        """
        renderings = self._renderings
        if renderings is not None and form in renderings:
            return renderings[form]  # type: ignore[return-value]
        return self._keep(form, reframe(self.frame))

    def _keep(self, form: str, rendering: _R) -> _R:
        if self._renderings is None:
            self._renderings = {}
        self._renderings[form] = rendering
        return rendering

    def __repr__(self) -> str:
        return f"<Event {self.msg!r}>"

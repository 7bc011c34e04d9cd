"""What a line the person types is, while the client waits for an answer it asked for."""

from __future__ import annotations

from enum import Enum


class Asking(Enum):
    """What a line the person types is: a line of the chat, or the answer the client asked for."""

    NOTHING = "nothing"
    NICKNAME = "a nickname"
    PASSWORD = "a password"
    NEW_PASSWORD = "the password of an account being registered"
    CURRENT_PASSWORD = "the account's password, before a change"
    CHANGED_PASSWORD = "the account's new password"

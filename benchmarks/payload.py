"""
The text of every benchmark message, and how a receiver finds it.

A message says who sent it, its number in that sender's sequence and when
it was sent, in fixed-width digits after a marker:

    `Tag SSSS QQQQQQQQ TTTTTTTTTT xxxx...     (without the spaces)

a backtick, a three-letter tag chosen per run (so messages of an earlier run,
replayed from a server's history, are not counted), the sender number (4
digits), the sequence number (8 digits) and the send time (10 digits,
microseconds since the run's epoch on the system-wide monotonic clock, which
every process on the machine shares), then filler up to the text size.

Fixed widths let a receiver read the numbers at known offsets without
parsing the frame around them, and the backtick appears nowhere else in
what the servers send (JSON keys, IRC prefixes, nicknames of letters and
digits).
"""

from __future__ import annotations

import random
import string
import time

MARK = b"`"
TAG_LEN = 3
SENDER_DIGITS = 4
SEQ_DIGITS = 8
TIME_DIGITS = 10
#: Bytes from the backtick to the end of the send time.
FIELD_LEN = len(MARK) + TAG_LEN + SENDER_DIGITS + SEQ_DIGITS + TIME_DIGITS
MAX_SENDERS = 10**SENDER_DIGITS
DEFAULT_TEXT_BYTES = 100


def new_tag() -> str:
    """Three letters that mark this run's messages."""
    return "".join(random.choice(string.ascii_letters) for _ in range(TAG_LEN))


def now_us(epoch_ns: int) -> int:
    """Microseconds since C{epoch_ns} on the monotonic clock (shared by all processes)."""
    return (time.monotonic_ns() - epoch_ns) // 1000


class Payload:
    """Builds the texts of one run."""

    __slots__ = ("filler", "prefix")

    def __init__(self, tag: str, text_bytes: int = DEFAULT_TEXT_BYTES) -> None:
        if len(tag) != TAG_LEN or not tag.isascii() or not tag.isalpha():
            raise ValueError(f"the tag is {TAG_LEN} ASCII letters, not {tag!r}")
        if text_bytes < FIELD_LEN:
            raise ValueError(f"a message text has at least {FIELD_LEN} bytes")
        self.prefix = MARK + tag.encode()
        self.filler = b"x" * (text_bytes - FIELD_LEN)

    def text(self, sender: int, seq: int, sent_us: int) -> bytes:
        return b"%s%04d%08d%010d%s" % (self.prefix, sender, seq, sent_us, self.filler)

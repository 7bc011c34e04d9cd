"""
Password hashes: scrypt (the standard library's, RFC 7914), a fresh salt
each, compared in constant time.  Pure and blocking: callers run them off
the reactor thread (a hash costs tens of milliseconds and 16 MiB on
purpose).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

#: scrypt's cost: N (CPU and memory), r (block size), p (parallelism).  N=2^14,
#: r=8 is what RFC 7914 gives for interactive logins: 16 MiB and about 50 ms here.
COST = (1 << 14, 8, 1)
SALT_BYTES = 16
KEY_BYTES = 32
MIN_LENGTH = 8
MAX_LENGTH = 300


def weakness(password: str, min_length: int = MIN_LENGTH) -> str | None:
    """Why C{password} may not be chosen, or None."""
    if not password or len(password) < min_length:
        return f"a password needs at least {max(1, min_length)} characters"
    if len(password) > MAX_LENGTH:
        return f"a password has at most {MAX_LENGTH} characters"
    if password.strip() != password or any(c in password for c in "\r\n\0"):
        return "a password may not start or end with spaces, nor hold a line break"
    return None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                          maxmem=n * r * 129 + (1 << 20), dklen=KEY_BYTES)


def hash_password(password: str, cost: tuple[int, int, int] = COST) -> str:
    """C{scrypt$N$r$p$SALT$KEY}: what is stored instead of the password."""
    salt = os.urandom(SALT_BYTES)
    n, r, p = cost
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(_scrypt(password, salt, n, r, p))}"


def verify_password(password: str, stored: str) -> bool:
    """Whether C{password} is the one C{stored} was made from (constant time)."""
    try:
        kind, n, r, p, salt, key = stored.split("$")
        if kind != "scrypt":
            return False
        expected = base64.b64decode(key)
        actual = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)

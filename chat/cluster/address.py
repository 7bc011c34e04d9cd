"""Where a node finds its Redis: parsed from --redis, with no Redis client loaded."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit


@dataclass(frozen=True)
class RedisAddress:
    host: str
    port: int
    db: int
    password: str | None
    url: str

    @classmethod
    def parse(cls, url: str) -> RedisAddress:
        """C{redis://[:password@]host[:port][/db]}."""
        parts = urlsplit(url)
        if parts.scheme != "redis" or not parts.hostname:
            raise ValueError(f"a Redis URL looks like redis://host:6379/0, not {url!r}")
        path = parts.path.strip("/")
        if path and not path.isdigit():
            raise ValueError(f"the database in a Redis URL is a number, not {path!r}")
        password = unquote(parts.password) if parts.password else None
        return cls(parts.hostname, parts.port or 6379, int(path or 0), password, url)

"""
What is measured: how many clients in the room, how many of them send, and
how (flat out, each sender with a bounded window of messages in flight, or
at a fixed offered rate), or, for memory, how many idle clients log on.

Named scenarios (the default set, about four minutes for five servers):

    10-all      10 clients, all sending, flat out
    100-10      100 clients, 10 senders, flat out
    1000-10     1,000 clients, 10 senders, flat out
    idle-10000  10,000 clients connect and log on, then idle: time and RSS per client
    rate-100    100 clients, 10 senders, at half the rate each server reached in 100-10
    rate-200    100 clients, 10 senders, 200 messages a second in all (20,000
                deliveries a second): latency at an ordinary load
    rooms-flat  1,000 clients in 100 rooms of 10, all sending, flat out
    rooms-rate  1,000 clients in 100 rooms of 10, all sending, 200 messages a
                second in all (one every 5 s each, as people chat)

Any other: flat:N:S, idle:N, rate:N:S:R (R messages a second, all senders
together), rate:N:S:half (half the rate of flat:N:S in the same run), or
rooms:N:R:flat and rooms:N:R:RATE (N clients in R rooms, all sending).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Scenario:
    key: str
    clients: int
    senders: int = 0
    #: "flat", "rate" or "idle".
    mode: str = "flat"
    #: Offered messages a second, all senders together ("rate" with a number).
    rate: float | None = None
    #: The flat scenario whose rate this one halves ("rate" without a number).
    half_of: str | None = None
    #: Rooms the clients are spread over (client i in room i mod rooms), all the same size.
    rooms: int = 1

    @property
    def room_size(self) -> int:
        return self.clients // self.rooms

    @property
    def title(self) -> str:
        if self.mode == "idle":
            return f"{self.clients:,} idle clients: connect, log on, memory"
        who = "all sending" if self.senders == self.clients else f"{self.senders} senders"
        how = "flat out"
        if self.mode == "rate":
            how = f"{self.rate:,.0f} messages/s offered" if self.rate else f"half the rate of {self.half_of}"
        where = f" in {self.rooms:,} rooms of {self.room_size:,}" if self.rooms > 1 else ""
        return f"{self.clients:,} clients{where}, {who}, {how}"


NAMED = {
    "10-all": Scenario("10-all", 10, 10),
    "100-10": Scenario("100-10", 100, 10),
    "1000-10": Scenario("1000-10", 1000, 10),
    "idle-10000": Scenario("idle-10000", 10000, mode="idle"),
    "rate-100": Scenario("rate-100", 100, 10, mode="rate", half_of="100-10"),
    "rate-200": Scenario("rate-200", 100, 10, mode="rate", rate=200.0),
    "rooms-flat": Scenario("rooms-flat", 1000, 1000, rooms=100),
    "rooms-rate": Scenario("rooms-rate", 1000, 1000, mode="rate", rate=200.0, rooms=100),
}
DEFAULT = ["10-all", "100-10", "1000-10", "rooms-flat", "idle-10000", "rate-100", "rate-200", "rooms-rate"]


def parse(spec: str) -> list[Scenario]:
    """A comma-separated list of named or spelled-out scenarios ("default" for the default set)."""
    scenarios: list[Scenario] = []
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        if item in ("default", "quick"):
            scenarios.extend(NAMED[k] for k in DEFAULT)
        elif item in NAMED:
            scenarios.append(NAMED[item])
        else:
            scenarios.append(_spelled_out(item))
    for s in scenarios:
        if s.mode != "idle" and not 1 <= s.senders <= s.clients:
            raise ValueError(f"{s.key}: from 1 to {s.clients} senders")
        if s.mode != "idle" and s.clients < 2:
            raise ValueError(f"{s.key}: at least 2 clients")
        if s.rooms < 1 or s.clients % s.rooms or (s.mode != "idle" and s.room_size < 2):
            raise ValueError(f"{s.key}: the clients must fill the rooms evenly, at least 2 in each")
    return scenarios


def _spelled_out(item: str) -> Scenario:
    parts = item.split(":")
    try:
        if parts[0] == "flat" and len(parts) == 3:
            return Scenario(item, int(parts[1]), int(parts[2]))
        if parts[0] == "rooms" and len(parts) == 4:
            n, rooms = int(parts[1]), int(parts[2])
            if parts[3] == "flat":
                return Scenario(item, n, n, rooms=rooms)
            return Scenario(item, n, n, mode="rate", rate=float(parts[3]), rooms=rooms)
        if parts[0] == "idle" and len(parts) == 2:
            return Scenario(item, int(parts[1]), mode="idle")
        if parts[0] == "rate" and len(parts) == 4:
            n, s = int(parts[1]), int(parts[2])
            if parts[3] == "half":
                return Scenario(item, n, s, mode="rate", half_of=f"flat:{n}:{s}")
            return Scenario(item, n, s, mode="rate", rate=float(parts[3]))
    except ValueError:
        pass
    raise ValueError(f"unknown scenario {item!r}: use {', '.join(NAMED)}, flat:N:S, idle:N, "
                     "rate:N:S:R, rate:N:S:half, rooms:N:R:flat or rooms:N:R:RATE")


def needs(scenarios: list[Scenario]) -> list[Scenario]:
    """The scenarios in running order, with the flat ones a "half" rate depends on added before it."""
    ordered: list[Scenario] = []
    keys = {s.key for s in scenarios}
    for s in scenarios:
        if s.mode == "rate" and s.half_of and s.half_of not in keys:
            base = NAMED.get(s.half_of) or _spelled_out(s.half_of)
            ordered.append(base)
            keys.add(base.key)
        ordered.append(s)
    # A rate scenario runs after the scenario it halves.
    flat_first = [s for s in ordered if s.mode != "rate"] + [s for s in ordered if s.mode == "rate"]
    return flat_first

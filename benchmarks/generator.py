"""
The load generator: one process holding many benchmark clients.

    python -m benchmarks.generator < commands

It is driven by the benchmark's runner through its standard input and
output, one JSON object a line.  The first line in is its configuration;
then:

    out {"event": "started"}                      configured, waiting
    in  {"cmd": "connect"}                        connect, log on, join
    out {"event": "ready", "setup_s": ...}        every client is set up
    in  {"cmd": "go", "start_us", "w0_us", "w1_us", "stop_us", "rate"}
    out {"event": "sent", "sent": {sid: n}}       at stop_us: senders stopped
    in  {"cmd": "drain", "sent": {sid: n}, "timeout_s": ...}
    out {"event": "result", ...}                  every message arrived, or the timeout
    in  {"cmd": "quit"}                           close everything (RST) and exit

or {"event": "error", "message": ...} and exit status 1 at any point.
Times are microseconds since the run's epoch on the monotonic clock.

It is a plain epoll loop rather than Twisted: the server under test gets one
core and this process the other, and it has to read what the fastest server
writes; see L{benchmarks.counting} for how it counts.
"""

from __future__ import annotations

import collections
import errno
import json
import os
import resource
import select
import socket
import struct
import sys
import time
from typing import Any

from benchmarks.counting import Chunk, Counter, make_counter
from benchmarks.dialect import ROOM, BroadcastDialect, ChatDialect, Dialect, Stage, WebSocketDialect
from benchmarks.irc import IrcDialect
from benchmarks.payload import Payload

#: Times a client reconnects when the server resets it before it is set up
#: (a listen backlog smaller than the clients connecting at once).
SETUP_RETRIES = 3
READ_SIZE = 64 * 1024  # larger reads cost an mmap each (glibc), 6x the syscall itself
#: Microseconds of reading gathered into one call of the counter.
BATCH_US = 2000
_LINGER_RESET = struct.pack("ii", 1, 0)
_IN, _OUT = select.EPOLLIN, select.EPOLLOUT


class GeneratorError(Exception):
    """The run cannot go on: said to the runner, then the process exits."""


def make_dialect(spec: dict[str, Any]) -> Dialect:
    kind = spec["kind"]
    if kind == "chat":
        return ChatDialect()
    if kind == "broadcast":
        return BroadcastDialect()
    if kind == "websocket":
        return WebSocketDialect()
    if kind == "irc":
        oper = spec.get("oper")
        return IrcDialect(spec.get("name", "irc"), spec.get("password"), tuple(oper) if oper else None)
    raise ValueError(f"unknown dialect {kind!r}")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def raise_fd_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(wanted, soft)), hard))


class Client:
    """One connection: its setup stages, then only its socket matters."""

    __slots__ = ("buffer", "fd", "index", "local", "nick", "ready", "retries", "room", "sender", "sock", "stage",
                 "stages")

    def __init__(self, local: int, index: int, nick: str, stages: list[Stage], sender: bool, room: str) -> None:
        self.local = local
        self.index = index
        self.room = room
        self.nick = nick
        self.stages = stages
        self.stage = 0
        self.sender = sender
        self.buffer = b""
        self.ready = False
        self.retries = 0
        self.sock: socket.socket | None = None
        self.fd = -1


class Sender:
    """A client that sends; its window is acknowledged by a watcher's count of its messages."""

    __slots__ = ("client", "pending", "phase_us", "sent", "sid", "watcher")

    def __init__(self, sid: int, client: Client, watcher: Client) -> None:
        self.sid = sid
        self.client = client
        self.watcher = watcher
        self.sent = 0
        self.pending = b""
        self.phase_us = 0


class Generator:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        # Several addresses (the nodes of a cluster): client i connects to the i-th, round robin.
        self.addresses = [tuple(a) for a in config.get("addresses") or [(config["host"], config["port"])]]
        self.dialect = make_dialect(config["dialect"])
        self.epoch_ns: int = config["epoch_ns"]
        self.payload = Payload(config["tag"], config["text_bytes"])
        self.window_size: int = config["window"]
        self.concurrency: int = config["concurrency"]
        self.join: bool = config["join"]
        self.total_senders: int = config["total_senders"]
        senders = {int(k): v for k, v in config["senders"].items()}  # global client index -> sid
        self.rooms: int = config.get("rooms", 1)
        self.clients = [
            Client(local, index, f"{config['nick_prefix']}{index}",
                   list(self.dialect.stages(f"{config['nick_prefix']}{index}", self.join, index in senders,
                                            self.room_of(index))),
                   index in senders, self.room_of(index))
            for local, index in enumerate(config["clients"])
        ]
        self.senders = [Sender(senders[c.index], c, self._watcher(c)) for c in self.clients if c.sender]
        self.counter: Counter = make_counter(config["counter"], len(self.clients), self.total_senders,
                                             config["tag"], self.dialect.framed)
        self.by_fd: dict[int, Client] = {}
        self.poll = select.epoll()
        self.commands: collections.deque[dict[str, Any]] = collections.deque()
        self._stdin_buffer = b""
        self.stdin_open = True
        self.disconnected: list[str] = []
        self.retries = 0
        raise_fd_limit(len(self.clients) + 64)

    def room_of(self, index: int) -> str:
        """Client C{index}'s room: the lobby, or one of C{rooms} (client i in room i mod rooms)."""
        return ROOM if self.rooms == 1 else f"room{index % self.rooms}"

    def _watcher(self, sender: Client) -> Client:
        """
        The client whose count of this sender's messages acknowledges them:
        the last client of this process in the sender's room that is not a
        sender (last to join, so likely last to be served), else the next
        one in its room.
        """
        same = [c for c in self.clients if c.room == sender.room]
        for c in reversed(same):
            if not c.sender:
                return c
        if len(same) < 2:
            raise GeneratorError("a generator with senders needs at least two clients in each room")
        return same[(same.index(sender) + 1) % len(same)]

    # -- plumbing -----------------------------------------------------------

    def emit(self, **event: Any) -> None:
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()

    def now_us(self) -> int:
        return (time.monotonic_ns() - self.epoch_ns) // 1000

    def _read_commands(self) -> None:
        try:
            data = os.read(0, 65536)
        except BlockingIOError:
            return
        if not data:
            self.stdin_open = False
            self.poll.unregister(0)
            self.commands.append({"cmd": "quit"})
            return
        self._stdin_buffer += data
        *lines, self._stdin_buffer = self._stdin_buffer.split(b"\n")
        for line in lines:
            if line.strip():
                self.commands.append(json.loads(line))

    def wait_command(self, *names: str) -> dict[str, Any]:
        """Serve the sockets (reading and dropping) until one of these commands comes."""
        while True:
            while self.commands:
                command = self.commands.popleft()
                if command["cmd"] == "quit" and "quit" not in names:
                    raise SystemExit(0)
                if command["cmd"] in names:
                    return command
            for fd, _ in self.poll.poll(0.5):
                if fd == 0:
                    self._read_commands()
                else:
                    self._discard(self.by_fd[fd])

    def _discard(self, client: Client) -> None:
        """Read what a set-up client received before the measurement: joins, not messages."""
        assert client.sock is not None
        try:
            data = client.sock.recv(READ_SIZE)
        except ConnectionError as e:
            data, reason = b"", str(e)
        else:
            reason = "closed by the server"
        if not data:
            raise GeneratorError(f"{client.nick}: {reason} before the measurement")

    # -- setup --------------------------------------------------------------

    def setup(self) -> float:
        """Connect, log on and join every client, C{concurrency} at a time; return the seconds taken."""
        started = time.monotonic()
        deadline = started + self.config["setup_timeout"]
        waiting = collections.deque(self.clients)
        busy = 0
        done = 0
        total = len(self.clients)
        while done < total:
            while waiting and busy < self.concurrency:
                self._connect(waiting.popleft())
                busy += 1
            if time.monotonic() > deadline:
                raise GeneratorError(f"only {done} of {total} clients set up within {self.config['setup_timeout']} s")
            for fd, event in self.poll.poll(0.2):
                if fd == 0:
                    self._read_commands()
                    if any(c["cmd"] == "quit" for c in self.commands):
                        raise SystemExit(0)
                    continue
                client = self.by_fd[fd]
                if client.ready:
                    self._discard(client)
                elif self._setup_step(client, event):
                    busy -= 1
                    done += 1
        return time.monotonic() - started

    def _connect(self, client: Client) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        err = sock.connect_ex(self.addresses[client.index % len(self.addresses)])
        if err not in (0, errno.EINPROGRESS):
            raise GeneratorError(f"{client.nick}: connect: {os.strerror(err)}")
        client.sock, client.fd = sock, sock.fileno()
        self.by_fd[client.fd] = client
        self.poll.register(client.fd, _OUT)

    def _setup_step(self, client: Client, event: int) -> bool:
        """Advance one client's setup; True once it is set up."""
        sock = client.sock
        assert sock is not None
        if event & _OUT:
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self._retry(client, f"connect: {os.strerror(err)}")
                return False
            self.poll.modify(client.fd, _IN)
            try:
                self._send_all(sock, client.stages[0].data)
            except ConnectionError as e:
                self._retry(client, str(e))
            return False
        try:
            data = sock.recv(READ_SIZE)
        except ConnectionError as e:
            self._retry(client, str(e))
            return False
        if not data:
            raise GeneratorError(f"{client.nick}: the server closed the connection during setup "
                                 f"(stage {client.stage + 1} of {len(client.stages)}; last bytes {client.buffer[-200:]!r})")
        units, client.buffer = self.dialect.split(client.buffer + data)
        for unit in units:
            why = self.dialect.refusal(unit)
            if why is not None:
                raise GeneratorError(f"{client.nick}: refused during setup: {why}")
            answer = self.dialect.answer(unit)
            if answer:
                self._send_all(sock, answer)
            if client.stages[client.stage].done(unit):
                client.stage += 1
                if client.stage == len(client.stages):
                    client.ready = True
                    client.buffer = b""
                    return True
                self._send_all(sock, client.stages[client.stage].data)
        return False

    def _retry(self, client: Client, why: str) -> None:
        """The server reset a client that was setting up: connect it again, a few times."""
        if client.retries >= SETUP_RETRIES:
            raise GeneratorError(f"{client.nick}: {why} during setup, {client.retries} retries")
        client.retries += 1
        self.retries += 1
        assert client.sock is not None
        self.poll.unregister(client.fd)
        del self.by_fd[client.fd]
        client.sock.close()
        client.sock, client.stage, client.buffer = None, 0, b""
        self._connect(client)

    @staticmethod
    def _send_all(sock: socket.socket, data: bytes) -> None:
        """Setup writes are small: wait for room in the rare case there is none."""
        while data:
            try:
                data = data[sock.send(data):]
            except BlockingIOError:
                select.select([], [sock], [], 1.0)

    # -- the measurement ----------------------------------------------------

    def measure(self, go: dict[str, Any]) -> None:
        start, w0, w1, stop = go["start_us"], go["w0_us"], go["w1_us"], go["stop_us"]
        rate = go.get("rate")  # messages a second, all senders together, or None: flat out
        counter = self.counter
        counter.window = (w0, w1)
        window = self.window_size
        cap = window * 4 if rate else window
        per_sender_rate = rate / self.total_senders if rate else 0.0
        for s in self.senders:
            # Spread the senders' schedules evenly over one interval.
            s.phase_us = start + (int(s.sid * 1e6 / rate) if rate else 0)
        cpu = {}
        sent_reported = False
        drain: dict[str, Any] | None = None
        drain_deadline = 0.0
        expected: list[int] | None = None
        poll, by_fd, recv_time = self.poll, self.by_fd, time.monotonic_ns
        epoch = self.epoch_ns
        while True:
            now = self.now_us()
            if "w0" not in cpu and now >= w0:
                cpu["w0"] = (cpu_seconds(), now)
            if "w1" not in cpu and now >= w1:
                cpu["w1"] = (cpu_seconds(), now)
            sending = start <= now < stop
            if now >= stop and not sent_reported:
                sent_reported = True
                self.emit(event="sent", sent={str(s.sid): s.sent for s in self.senders})
            # Top the senders up.
            next_due = now + 50_000
            if sending:
                for s in self.senders:
                    if s.pending:
                        continue
                    inflight = s.sent - counter.next_expected(s.watcher.local, s.sid)
                    if rate:
                        due = int((now - s.phase_us) * per_sender_rate / 1e6) + 1 if now >= s.phase_us else 0
                        n = min(due - s.sent, cap - inflight)
                        next_due = min(next_due, s.phase_us + int((s.sent + max(n, 0)) * 1e6 / per_sender_rate))
                    else:
                        n = window - inflight if inflight <= window - max(1, window // 4) else 0
                    if n > 0:
                        self._send_messages(s, n, now)
            elif now < start:
                next_due = start
            for boundary in (w0, w1, stop):
                if now < boundary:
                    next_due = min(next_due, boundary)
            # Read for a while before counting: the counter's cost is mostly
            # per call, so a busy generator counts in fewer, larger calls.
            chunks: list[Chunk] = []
            batch_end = 0
            while True:
                t = self.now_us()
                limit = min(next_due, batch_end) if chunks else next_due
                events = poll.poll(max(0.0, (limit - t) / 1e6))
                for fd, event in events:
                    if fd == 0:
                        self._read_commands()
                        continue
                    client = by_fd.get(fd)
                    if client is None:
                        continue
                    if event & _OUT:
                        self._flush(client)
                    if event & ~_OUT:
                        sock = client.sock
                        assert sock is not None
                        try:
                            data = sock.recv(READ_SIZE)
                        except ConnectionError as e:
                            data = b""
                            self._lost(client, str(e))
                        else:
                            if data:
                                if not chunks:
                                    batch_end = self.now_us() + BATCH_US
                                chunks.append((client.local, data, (recv_time() - epoch) // 1000))
                            else:
                                self._lost(client, "closed by the server")
                t = self.now_us()
                if not events or t >= next_due or (chunks and t >= batch_end) or self.commands:
                    break
            if chunks:
                counter.feed(chunks)
            while self.commands:
                command = self.commands.popleft()
                if command["cmd"] == "quit":
                    raise SystemExit(0)
                if command["cmd"] == "drain":
                    drain = command
                    drain_deadline = time.monotonic() + command["timeout_s"]
                    expected = self._expected({int(k): v for k, v in command["sent"].items()})
            if drain is not None and expected is not None and (
                    counter.complete(expected) or time.monotonic() > drain_deadline):
                break
        cpu_used, window_s = 0.0, 0.0
        if "w0" in cpu and "w1" in cpu:
            cpu_used = cpu["w1"][0] - cpu["w0"][0]
            window_s = (cpu["w1"][1] - cpu["w0"][1]) / 1e6
        lat_file = self.config["lat_file"]
        latencies = counter.latencies()
        with open(lat_file, "wb") as f:
            latencies.tofile(f)
        self.emit(event="result", counter=counter.kind, in_window=counter.in_window, total=counter.total,
                  drained=counter.complete(expected or []), cpu_s=cpu_used, cpu_window_s=window_s,
                  latencies=len(latencies), disconnected=self.disconnected[:20],
                  n_disconnected=len(self.disconnected), **counter.per_sender())

    def _expected(self, sent: dict[int, int]) -> list[int]:
        """Next sequence number each receiver should end at, for each sender (flat)."""
        S = self.total_senders
        table = [0] * (len(self.clients) * S)
        own = {s.client.local: s.sid for s in self.senders}
        room_of_sender = {sid: self.room_of(index) for index, sid in
                          ((int(k), v) for k, v in self.config["senders_everywhere"].items())}
        for r, client in enumerate(self.clients):
            for sid, n in sent.items():
                if room_of_sender[sid] == client.room and (self.dialect.echoes or own.get(r) != sid):
                    table[r * S + sid] = n
        return table

    def _send_messages(self, sender: Sender, n: int, now: int) -> None:
        text = self.payload.text
        sid, seq = sender.sid, sender.sent
        data = self.dialect.messages([text(sid, q, now) for q in range(seq, seq + n)], sender.client.room)
        sender.sent += n
        sock = sender.client.sock
        if sock is None:
            return
        try:
            written = sock.send(data)
        except BlockingIOError:
            written = 0
        except ConnectionError as e:
            self._lost(sender.client, str(e))
            return
        if written < len(data):
            sender.pending = data[written:]
            self.poll.modify(sender.client.fd, _IN | _OUT)

    def _flush(self, client: Client) -> None:
        sender = next(s for s in self.senders if s.client is client)
        assert client.sock is not None
        try:
            written = client.sock.send(sender.pending)
        except BlockingIOError:
            return
        except ConnectionError as e:
            self._lost(client, str(e))
            return
        sender.pending = sender.pending[written:]
        if not sender.pending:
            self.poll.modify(client.fd, _IN)

    def _lost(self, client: Client, why: str) -> None:
        self.disconnected.append(f"{client.nick}: {why}")
        if client.sock is not None:
            self.poll.unregister(client.fd)
            del self.by_fd[client.fd]
            client.sock.close()
            client.sock = None
            for s in self.senders:
                if s.client is client:
                    s.pending = b""

    def close(self) -> None:
        """Reset every connection: no TIME_WAIT left behind for the next server."""
        for client in self.clients:
            if client.sock is not None:
                try:
                    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
                except OSError:
                    pass
                client.sock.close()
                client.sock = None

    def run(self) -> None:
        os.set_blocking(0, False)
        self.poll.register(0, _IN)
        self.emit(event="started")
        self.wait_command("connect")
        setup_s = self.setup()
        self.emit(event="ready", setup_s=setup_s, clients=len(self.clients), retries=self.retries)
        command = self.wait_command("go", "quit")
        if command["cmd"] == "go":
            self.measure(command)
            self.wait_command("quit")


def _first_line() -> bytes:
    """The configuration line, read without buffering (the commands that follow go through epoll)."""
    line = b""
    while not line.endswith(b"\n"):
        chunk = os.read(0, 1)
        if not chunk:
            break
        line += chunk
    return line


def main() -> None:
    config = json.loads(_first_line())
    generator = None
    try:
        generator = Generator(config)
        generator.run()
    except GeneratorError as e:
        sys.stdout.write(json.dumps({"event": "error", "message": str(e)}) + "\n")
        sys.stdout.flush()
        raise SystemExit(1) from None
    except SystemExit:
        pass
    finally:
        if generator is not None:
            generator.close()


if __name__ == "__main__":
    main()

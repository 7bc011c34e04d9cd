"""
The servers under test, each started afresh as a child process for every
scenario (so nothing one scenario leaves behind, queued frames or departing
clients, is billed to the next), on a loopback port, with its port read from
its log.

- chat: this checkout's C{twistd -n --pidfile= chat}, with PYTHONPATH set to
  the checkout so the checkout's code runs.  Its limits that exist to stop
  one person from flooding a room are lifted (flood rate, connections per
  address, total clients, idle PINGs); everything else is as shipped,
  history included.
- chat-nohistory: the same with C{--no-history}: what the SQLite history
  costs is the difference.
- chat-irc: the same server (history on) driven over its IRC front end,
  with the IRC adapter ngIRCd and twistd words get.
- chat-web: the same server (history on) driven over its browser front end
  (WebSocket), with the native protocol's bodies.
- broadcast: benchmarks/broadcast_server.py, the Twisted floor.
- words: twistd words (Twisted's IRC server) from benchmarks/words.tac.
- ngircd: Debian's ngIRCd, foreground, from benchmarks/ngircd.conf.template.
- chat@REV: the chat server as it was at commit REV (a git worktree), to
  measure a change against its baseline in one run.
- external: C{--target HOST:PORT}, a chat server someone else started.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import re
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import twisted

#: This package: the benchmark and its baseline servers (broadcast_server.py,
#: words.tac, ngircd.conf.template), run from a source checkout.
BENCHMARKS = Path(__file__).resolve().parent
#: The checkout whose code is benchmarked (benchmarks/servers.py -> the root).
ROOT = BENCHMARKS.parent
TWISTD = [sys.executable, "-c", "from twisted.scripts.twistd import run; run()"]
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def source_env(**extra: str) -> dict[str, str]:
    """Environment that runs the checkout's code (and its twisted/plugins)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def free_port(host: str = "127.0.0.1") -> int:
    """A port free now, for a server that cannot be told to pick one (ngIRCd)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class ServerError(Exception):
    """A server would not start."""


class RunningServer:
    """A server child process, its address, and everything it printed."""

    def __init__(self, command: Sequence[str], listening: re.Pattern[bytes], cwd: Path,
                 env: dict[str, str] | None = None, ready: Callable[[str, int], None] | None = None) -> None:
        self.command = list(command)
        self.output = bytearray()
        self._lock = threading.Lock()
        self.process = subprocess.Popen(
            self.command, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        self.pid = self.process.pid
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            self.host, self.port = self._wait_for(listening)
        except BaseException:
            self.stop()
            raise

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in iter(self.process.stdout.readline, b""):
            with self._lock:
                self.output += line
                if len(self.output) > 4_000_000:  # 10,000 logons log 10,000 lines
                    del self.output[:2_000_000]

    def _wait_for(self, pattern: re.Pattern[bytes]) -> tuple[str, int]:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            with self._lock:
                match = pattern.search(self.output)
            if match:
                if pattern.groups < 2:  # only waiting for a line
                    return "", 0
                return match.group(1).decode(), int(match.group(2))
            if self.process.poll() is not None:
                time.sleep(0.2)
                raise ServerError(f"exited with status {self.process.returncode}: {self.tail()}")
            time.sleep(0.02)
        raise ServerError(f"did not say it listens within {START_TIMEOUT:g} s: {self.tail()}")

    def tail(self, n: int = 1500) -> str:
        with self._lock:
            return bytes(self.output[-n:]).decode(errors="replace")

    def tracebacks(self) -> int:
        with self._lock:
            return self.output.count(b"Traceback")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)
        self._reader.join(STOP_TIMEOUT)


class Target:
    """A kind of server the benchmark can start (or reach)."""

    key = "?"
    title = "?"
    #: The generator's dialect (see benchmarks.generator.make_dialect).
    dialect: dict[str, Any]
    #: Clients that may be setting up at once, if the server wants fewer
    #: than the benchmark's default (its listen backlog).
    concurrency: int | None = None

    def __init__(self) -> None:
        self.dialect = {"kind": "chat"}

    def missing(self) -> str | None:
        """Why this target cannot run here ("not installed"), or None."""
        return None

    def version(self) -> str:
        return ""

    def start(self, workdir: Path) -> RunningServer:
        raise NotImplementedError


def code_fingerprint() -> str:
    """
    A hash of the server's code in the checkout (chat/*.py and
    twisted/plugins): the checkout may be edited while a run goes on, and a
    run whose server changed half-way measured two servers.
    """
    digest = hashlib.sha256()
    for path in sorted([*(ROOT / "chat").glob("*.py"), *(ROOT / "twisted" / "plugins").glob("*.py")]):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _git_revision() -> str:
    """The checkout's commit, or "?" when git or the checkout's .git is missing."""
    try:
        found = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                               check=False, capture_output=True, text=True, timeout=10)
        rev = found.stdout.strip() if found.returncode == 0 else ""
        if not rev:
            return "?"
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               check=False, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError, UnicodeDecodeError):
        return "?"
    return f"{rev}{' + uncommitted changes' if dirty else ''}"


class ChatTarget(Target):
    LISTENING = re.compile(rb"chat server listening on ([\d.]+):(\d+)")
    #: Limits lifted for a benchmark: one client sends flat out, every client
    #: comes from 127.0.0.1, 10,000 of them, and receivers never speak.
    LIFTED = ("--flood-rate", "0", "--max-per-address", "0", "--max-clients", "0", "--idle-timeout", "0")

    def __init__(self, history: bool = True, extra: Sequence[str] = ()) -> None:
        super().__init__()
        self.history = history
        self.extra = list(extra)
        self.key = "chat" if history else "chat-nohistory"
        self.title = "chat" if history else "chat --no-history"

    def arguments(self, workdir: Path) -> list[str]:
        args = ["--endpoint", "tcp:0:interface=127.0.0.1", *self.LIFTED, "--data-dir", str(workdir / "chat-data")]
        if not self.history:
            args.append("--no-history")
        return args + self.extra

    def command(self, workdir: Path) -> list[str]:
        return TWISTD + ["-n", "--pidfile=", "chat", *self.arguments(workdir)]

    def version(self) -> str:
        return f"checkout {_git_revision()}, server code {code_fingerprint()}"

    def start(self, workdir: Path) -> RunningServer:
        return RunningServer(self.command(workdir), self.LISTENING, workdir, source_env())


class FrontEndTarget(ChatTarget):
    """Our server (history on) driven over another of its front ends, found by its listening line."""

    def __init__(self, key: str, title: str, front_end: str, option: str, dialect: dict[str, Any],
                 extra: Sequence[str] = ()) -> None:
        super().__init__(True, extra)
        self.key, self.title, self.dialect, self.option = key, title, dialect, option
        self.LISTENING = re.compile(rb"%s listening on ([\d.]+):(\d+)" % front_end.encode())

    def arguments(self, workdir: Path) -> list[str]:
        return [*super().arguments(workdir), self.option, "tcp:0:interface=127.0.0.1"]


def chat_irc_target(extra: Sequence[str] = ()) -> FrontEndTarget:
    """Our server over its IRC front end, with the same IRC adapter as ngIRCd and twistd words."""
    return FrontEndTarget("chat-irc", "chat over IRC", "IRC front end", "--irc-endpoint",
                          {"kind": "irc", "name": "chat-irc"}, extra)


def chat_web_target(extra: Sequence[str] = ()) -> FrontEndTarget:
    """Our server over its browser front end: the same CMsg bodies, one per WebSocket message."""
    return FrontEndTarget("chat-web", "chat over WebSocket", "web front end", "--web-endpoint",
                          {"kind": "websocket"}, extra)


class ClusterServer:
    """
    A cluster of C{n} chat nodes sharing one redis-server: looks like
    L{RunningServer} to the runner, with every node's address (clients go
    to them in turn) and every process's id (CPU and memory are summed).
    """

    def __init__(self, nodes: int, workdir: Path, extra: Sequence[str]) -> None:
        redis = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.redis_port = free_port()
        (workdir / "redis").mkdir()
        self.redis = RunningServer(
            [redis, "--port", str(self.redis_port), "--bind", "127.0.0.1", "--dir", str(workdir / "redis"),
             "--save", "", "--appendonly", "yes", "--appendfsync", "everysec"],
            re.compile(rb"Ready to accept connections"), workdir)
        self.nodes: list[RunningServer] = []
        try:
            for _ in range(nodes):
                node = RunningServer(
                    TWISTD + ["-n", "--pidfile=", "chat", "--endpoint", "tcp:0:interface=127.0.0.1",
                              *ChatTarget.LIFTED, "--redis", f"redis://127.0.0.1:{self.redis_port}/0", *extra],
                    ChatTarget.LISTENING, workdir, source_env())
                node._wait_for(re.compile(rb"joined the cluster at"))
                self.nodes.append(node)
        except BaseException:
            self.stop()
            raise
        self.host, self.port = self.nodes[0].host, self.nodes[0].port
        self.addresses = [[n.host, n.port] for n in self.nodes]
        self.pid = self.nodes[0].pid
        self.pids = [n.pid for n in self.nodes] + [self.redis.pid]

    def alive(self) -> bool:
        return all(p.alive() for p in [*self.nodes, self.redis])

    def tracebacks(self) -> int:
        return sum(n.tracebacks() for n in self.nodes)

    def tail(self, n: int = 1500) -> str:
        return "\n".join(node.tail(n // max(1, len(self.nodes))) for node in self.nodes)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        self.redis.stop()


class ClusterTarget(Target):
    """C{--redis}: the chat on C{n} nodes of one cluster, with the Redis they share."""

    def __init__(self, nodes: int, extra: Sequence[str] = ()) -> None:
        super().__init__()
        self.count = nodes
        self.extra = list(extra)
        self.key = f"cluster-{nodes}"
        self.title = f"chat cluster, {nodes} node{'s' if nodes > 1 else ''} + Redis"

    def missing(self) -> str | None:
        if not (shutil.which("redis-server") or os.path.exists("/usr/bin/redis-server")):
            return "redis-server not installed (apt-get install redis-server)"
        return None

    def version(self) -> str:
        return f"checkout {_git_revision()}, server code {code_fingerprint()}"

    def start(self, workdir: Path) -> ClusterServer:  # type: ignore[override]
        try:
            return ClusterServer(self.count, workdir, self.extra)
        except ServerError as e:
            raise ServerError(f"cluster: {e}") from None


class BroadcastTarget(Target):
    key = "broadcast"
    title = "minimal Twisted broadcast"
    LISTENING = re.compile(rb"broadcast server listening on ([\d.]+):(\d+)")
    script = BENCHMARKS / "broadcast_server.py"

    def __init__(self) -> None:
        self.dialect = {"kind": "broadcast"}

    def missing(self) -> str | None:
        return None if self.script.exists() else f"{self.script} not found"

    def version(self) -> str:
        return f"benchmarks/broadcast_server.py, Twisted {twisted.__version__}"

    def start(self, workdir: Path) -> RunningServer:
        return RunningServer([sys.executable, str(self.script), "--port", "0", "--interface", "127.0.0.1"],
                             self.LISTENING, workdir, source_env())


class WordsTarget(Target):
    key = "words"
    title = "twistd words"
    LISTENING = re.compile(rb"words server listening on ([\d.]+):(\d+)")
    tac = BENCHMARKS / "words.tac"

    def __init__(self) -> None:
        self.dialect = {"kind": "irc", "name": "words", "password": "bench"}

    def missing(self) -> str | None:
        try:
            import twisted.words.service  # noqa: F401
        except ImportError:
            return "not installed (twisted.words)"
        return None if self.tac.exists() else f"{self.tac} not found"

    def version(self) -> str:
        return f"Twisted {twisted.__version__}"

    def start(self, workdir: Path) -> RunningServer:
        return RunningServer(TWISTD + ["-n", "--pidfile=", "-y", str(self.tac)], self.LISTENING, workdir,
                             source_env(WORDS_ENDPOINT="tcp:0:interface=127.0.0.1"))


class NgircdTarget(Target):
    key = "ngircd"
    title = "ngIRCd"
    LISTENING = re.compile(rb"Now listening on \[([\d.]+)\]:(\d+)")
    template = BENCHMARKS / "ngircd.conf.template"
    concurrency = 10  # ngIRCd listens with a backlog of 10

    def __init__(self) -> None:
        self.binary = shutil.which("ngircd") or ("/usr/sbin/ngircd" if os.path.exists("/usr/sbin/ngircd") else None)
        self.oper = ("bench", secrets.token_hex(8))
        self.dialect = {"kind": "irc", "name": "ngircd", "oper": list(self.oper)}

    def missing(self) -> str | None:
        if self.binary is None:
            return "not installed (apt-get install ngircd)"
        return None if self.template.exists() else f"{self.template} not found"

    def version(self) -> str:
        assert self.binary is not None
        try:
            out = subprocess.run([self.binary, "--version"], check=False, capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return "?"
        return out.splitlines()[0] if out else "?"

    def start(self, workdir: Path) -> RunningServer:
        assert self.binary is not None
        workdir.chmod(0o777)  # ngIRCd drops root for "nobody" and then writes its pid file here
        include = workdir / "ngircd.conf.d"
        include.mkdir(exist_ok=True)
        root = os.getuid() == 0
        config = string.Template(self.template.read_text()).substitute(
            port=free_port(), pidfile=workdir / "ngircd.pid", include_dir=include,
            uid="nobody" if root else os.getuid(), gid="nogroup" if root else os.getgid(),
            oper_name=self.oper[0], oper_password=self.oper[1],
        )
        path = workdir / "ngircd.conf"
        path.write_text(config)
        return RunningServer([self.binary, "--nodaemon", "--config", str(path)], self.LISTENING, workdir)


class ExternalTarget(Target):
    """A chat server already running: no CPU or memory figures unless its pid is given."""

    key = "external"

    def __init__(self, host: str, port: int, pid: int | None) -> None:
        super().__init__()
        self.host, self.port, self.pid = host, port, pid
        self.title = f"chat at {host}:{port}"


class ExternalServer:
    """Looks enough like L{RunningServer} for the runner."""

    def __init__(self, target: ExternalTarget) -> None:
        self.host, self.port, self.pid = target.host, target.port, target.pid

    def alive(self) -> bool:
        return True

    def tracebacks(self) -> int:
        return 0

    def tail(self, n: int = 0) -> str:
        return ""

    def stop(self) -> None:
        pass


class CommitTarget(ChatTarget):
    """
    C{chat@REV}: the server as it was at commit REV of this checkout (a git
    worktree made for the run), so a change is measured against its
    baseline in the same run.
    """

    def __init__(self, revision: str, extra: Sequence[str] = ()) -> None:
        super().__init__(True, extra)
        self.revision = revision
        self.key = self.title = f"chat@{revision}"
        self.tree: Path | None = None

    def missing(self) -> str | None:
        found = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", "--quiet", f"{self.revision}^{{commit}}"],
                               check=False, capture_output=True, text=True, timeout=10)
        return None if found.returncode == 0 else f"no commit {self.revision!r} in this checkout"

    def version(self) -> str:
        return f"commit {self.revision} (a worktree of this checkout)"

    def start(self, workdir: Path) -> RunningServer:
        if self.tree is None or not self.tree.exists():
            self.tree = Path(tempfile.mkdtemp(prefix=f"chat-{self.revision}-"))
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--force", str(self.tree),
                            self.revision], check=True, capture_output=True, timeout=60)
            atexit.register(self._remove)
        env = dict(os.environ)
        env["PYTHONPATH"] = str(self.tree) + os.pathsep + env.get("PYTHONPATH", "")
        return RunningServer(self.command(workdir), self.LISTENING, workdir, env)

    def _remove(self) -> None:
        if self.tree is not None:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(self.tree)],
                           check=False, capture_output=True, timeout=60)


def all_targets(server_args: Sequence[str] = (), wanted: Sequence[str] = ()) -> dict[str, Target]:
    """Every target this machine knows, and any C{chat@REV} among those C{wanted}."""
    targets: list[Target] = [ChatTarget(True, server_args), ChatTarget(False, server_args), chat_irc_target(server_args),
                             chat_web_target(server_args), BroadcastTarget(),
                             WordsTarget(), NgircdTarget(), ClusterTarget(1, server_args), ClusterTarget(2, server_args)]
    targets += [CommitTarget(key.split("@", 1)[1], server_args) for key in wanted if key.startswith("chat@")]
    return {t.key: t for t in targets}

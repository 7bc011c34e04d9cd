"""
IRC clients in the same rooms as native clients, end to end: a real
C{twistd chat --irc-endpoint ...} (one process, or cluster nodes on a real
redis-server), a raw IRC socket, and Debian's irssi under tmux, typed at as
a person would.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable
from pathlib import Path

from tests.debian import debian_program
from tests.redis_server import RedisProcess
from tests.test_e2e_client import CLIENT
from tests.test_e2e_cluster import node
from tests.processes import TIMEOUT, ServerProcess, WireClient
from tests.terminal import PtyProgram
from tests.tmux import TmuxProgram

IRC_LISTENING = re.compile(rb"IRC front end listening on ([\d.]+):(\d+)")


def server_with_irc(tmp_path: Path) -> tuple[ServerProcess, str, int]:
    process = ServerProcess(tmp_path, ["--endpoint", "tcp:0:interface=127.0.0.1",
                                       "--irc-endpoint", "tcp:0:interface=127.0.0.1"])
    return (process, *irc_address(process))


def irc_address(process: ServerProcess) -> tuple[str, int]:
    """Where a server said its IRC front end listens."""
    match = process.wait_for_output(IRC_LISTENING)
    return match.group(1).decode(), int(match.group(2))


class IRCSocket:
    """An IRC client as a bot would be: lines over a blocking socket."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=TIMEOUT)
        self.buffer = b""

    def send(self, *lines: str) -> None:
        self.sock.sendall("".join(line + "\r\n" for line in lines).encode("utf-8"))

    def in_channel(self, nick: str, name: str = "#lobby") -> IRCSocket:
        """Register as C{nick} and join C{name}, reading up to the end of its member list."""
        self.send(f"NICK {nick}", f"USER {nick} 0 * :a bot", f"JOIN {name}")
        self.until(lambda line: " 366 " in line)
        return self

    def until(self, predicate: Callable[[str], bool]) -> list[str]:
        """Lines up to the first one C{predicate} accepts (answering the server's PINGs)."""
        seen: list[str] = []
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            while b"\r\n" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\r\n", 1)
                line = raw.decode("utf-8")
                seen.append(line)
                if line.startswith("PING "):
                    self.send("PONG " + line[5:])
                if predicate(line):
                    return seen
            data = self.sock.recv(65536)
            if not data:
                raise AssertionError(f"connection closed; saw {seen}")
            self.buffer += data
        raise AssertionError(f"timed out; saw {seen}")


def test_an_irc_bot_and_a_native_client_chat_in_one_room(tmp_path: Path) -> None:
    process, host, port = server_with_irc(tmp_path)
    irc = IRCSocket(host, port).in_channel("ircbot")
    bob = WireClient(process.host, process.port).logon("bob")
    irc.until(lambda line: line == ":bob!bob@chat JOIN #lobby")
    bob.send(code=5, text="hello irc")
    irc.until(lambda line: line == ":bob!bob@chat PRIVMSG #lobby :hello irc")
    irc.send("PRIVMSG #lobby :hello native")
    got = bob.recv_until(lambda m: m.get("text") == "hello native")
    assert got[-1]["nick"] == "ircbot" and got[-1]["room"] == "lobby"
    process.stop()
    irc.until(lambda line: line == "ERROR :The server is shutting down.")


def test_irssi_and_chat_client_users_chat_together(tmp_path: Path) -> None:
    """
    Two people at their terminals: carol in Debian's irssi, bob in our
    full-screen chat-client.  Carol sees what was said before she came,
    they talk both ways, carol sets the topic, renames herself and leaves.
    """
    irssi = debian_program("irssi")
    process, host, port = server_with_irc(tmp_path)
    bob = PtyProgram([*CLIENT, "--endpoint", f"tcp:host=127.0.0.1:port={process.port}", "--nick", "bob"])
    home = tmp_path / "irssi"
    home.mkdir()
    carol = TmuxProgram([irssi, "--home", str(home), "-n", "carol", "-c", host, "-p", str(port)], cols=120, rows=30)
    try:
        bob.wait_for("bob has joined lobby")
        bob.type("said before carol came\r")
        bob.wait_for("said before carol came")
        carol.wait_for("Welcome to the chat chat, carol")
        carol.type("/join #lobby\r")
        carol.wait_for("carol [carol@chat] has joined #lobby")
        carol.wait_for("< bob> said before carol came")  # the replay (irssi takes server-time)
        bob.wait_for("carol has joined lobby")
        bob.type("hello carol, from chat-client\r")
        carol.wait_for("< bob> hello carol, from chat-client")
        carol.type("hi bob, from irssi\r")
        bob.wait_for("hi bob, from irssi")
        carol.type("/topic #lobby friday plans\r")
        bob.wait_for("carol set the topic of lobby: friday plans")
        carol.wait_for("friday plans")
        carol.type("/nick caroline\r")
        bob.wait_for("carol is now known as caroline")
        carol.wait_for("You're now known as caroline")
        carol.type("/part #lobby\r")
        bob.wait_for("caroline has left lobby")
        carol.type("/quit\r")
        assert carol.wait_exit() == 0
    finally:
        carol.close()
        bob.close()


def test_irc_and_native_users_on_two_cluster_nodes(tmp_path: Path) -> None:
    """
    The IRC front end over the cluster backend: an IRC bot on one node, a
    native user called C{a.b} on another, one Redis between them.
    """
    redis = RedisProcess(tmp_path / "redis")
    try:
        one = node(tmp_path, redis, "--irc-endpoint", "tcp:0:interface=127.0.0.1")
        two = node(tmp_path, redis)
        irc = IRCSocket(*irc_address(one)).in_channel("ircbot")
        ab = WireClient(two.host, two.port).logon("a.b")
        irc.until(lambda line: line == ":a|b!a|b@chat JOIN #lobby")
        ab.send(code=5, text="hello from node two")
        irc.until(lambda line: line == ":a|b!a|b@chat PRIVMSG #lobby :hello from node two")
        irc.send("PRIVMSG #lobby :hello from node one")
        assert ab.recv_until(lambda m: m.get("text") == "hello from node one")[-1]["nick"] == "ircbot"
        ab.send(code=13, text="making tea")
        ab.recv_until(lambda m: m.get("code") == 13)
        irc.send("WHOIS a|b")
        whois = irc.until(lambda line: " 318 " in line)
        assert any(line.endswith(" 301 ircbot a|b :making tea") for line in whois), whois
        irc.send("PRIVMSG a|b :are you there?")
        irc.until(lambda line: line.endswith(" 301 ircbot a|b :making tea"))
        pm = ab.recv_until(lambda m: m.get("code") == 6)[-1]
        assert (pm["nick"], pm["to"], pm["text"]) == ("ircbot", "a.b", "are you there?")
        irc.send("QUIT :bye")
        ab.recv_until(lambda m: m.get("text") == "ircbot has quit: bye")
    finally:
        redis.kill()

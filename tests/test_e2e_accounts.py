"""
Accounts end to end: a real twistd with its IRC front end, raw IRC and
native sockets on 127.0.0.1.  An account registered over IRC survives a
restart (SQLite in the data directory) and is known on every node of a
cluster (a real redis-server); no password is ever stored in clear.
"""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

from tests.processes import ServerProcess, WireClient, source_env
from tests.redis_server import RedisProcess
from tests.test_e2e_cluster import node
from tests.test_e2e_irc import IRCSocket, irc_address

PASSWORD = "wonderland-9f3c"  # distinctive: searched for in the data directory


def plain(account: str, password: str) -> str:
    return base64.b64encode(f"\0{account}\0{password}".encode()).decode()


def register_over_irc(host: str, port: int, nick: str) -> None:
    irc = IRCSocket(host, port)
    irc.send("CAP LS 302")
    offered = irc.until(lambda line: " CAP * LS " in line)[-1]
    assert "draft/account-registration" in offered and "sasl=PLAIN" in offered
    irc.send("CAP END", f"NICK {nick}", f"USER {nick} 0 * :x")
    irc.until(lambda line: " 001 " in line)
    irc.send(f"REGISTER * * {PASSWORD}")
    irc.until(lambda line: line.endswith(f" REGISTER SUCCESS {nick} :Account {nick} registered"))
    irc.send("QUIT :registered")
    irc.until(lambda line: line.startswith("ERROR"))


def sasl(host: str, port: int, account: str, password: str) -> list[str]:
    """An IRC connection's SASL PLAIN exchange: the lines up to 903 or 904."""
    irc = IRCSocket(host, port)
    irc.send("CAP LS 302", "CAP REQ :sasl", "AUTHENTICATE PLAIN")
    irc.until(lambda line: line == "AUTHENTICATE +")
    irc.send("AUTHENTICATE " + plain(account, password))
    return irc.until(lambda line: " 903 " in line or " 904 " in line)


def irc_server(tmp_path: Path) -> ServerProcess:
    return ServerProcess(tmp_path, ["--endpoint", "tcp:0:interface=127.0.0.1",
                                    "--irc-endpoint", "tcp:0:interface=127.0.0.1"])


def test_an_account_registered_over_irc_survives_a_restart(tmp_path: Path) -> None:
    first = irc_server(tmp_path)
    register_over_irc(*irc_address(first), "alice")
    first.stop()
    server = irc_server(tmp_path)
    host, port = irc_address(server)

    assert " 903 " in sasl(host, port, "alice", PASSWORD)[-1]
    assert " 904 " in sasl(host, port, "alice", "not-the-password")[-1]
    stranger = IRCSocket(host, port)
    stranger.send("NICK alice", "USER alice 0 * :x")
    assert " 464 * :the nickname alice is registered" in stranger.until(lambda line: " 464 " in line)[-1]

    # The native front end and the web page's share the same accounts.
    native = WireClient(server.host, server.port)
    native.send(code=4, text="alice")
    assert native.recv()["error"] == "password-required"  # type: ignore[index]
    native.send(code=4, text="alice", password=PASSWORD)
    assert native.recv() == {"code": 4, "text": "alice", "nick": "alice"}
    server.stop()

    stored = b"".join(p.read_bytes() for p in (tmp_path / "chat-data").iterdir() if p.is_file())
    assert PASSWORD.encode() not in stored
    assert b"scrypt$" in stored
    assert b"account alice registered" in first.output
    assert PASSWORD.encode() not in first.output + server.output, "nor in the log"


def test_an_account_registered_on_one_node_logs_on_at_another(tmp_path: Path) -> None:
    redis = RedisProcess(tmp_path / "redis")
    try:
        a = node(tmp_path, redis, "--irc-endpoint", "tcp:0:interface=127.0.0.1")
        b = node(tmp_path, redis, "--irc-endpoint", "tcp:0:interface=127.0.0.1")
        register_over_irc(*irc_address(a), "carol")
        host, port = irc_address(b)
        assert " 903 " in sasl(host, port, "carol", PASSWORD)[-1]
        assert " 904 " in sasl(host, port, "carol", "not-the-password")[-1]
        native = WireClient(b.host, b.port)
        native.send(code=4, text="Carol")
        assert native.recv()["error"] == "password-required"  # type: ignore[index]
        dump = subprocess.run(["redis-cli", "-p", str(redis.port), "--no-raw", "HGETALL", "chat:accounts"],
                              capture_output=True, text=True, check=True, timeout=30).stdout
        assert "scrypt$" in dump and PASSWORD not in dump
    finally:
        redis.kill()


def test_a_person_registers_in_chat_client_and_logs_on_again_with_the_password(tmp_path: Path) -> None:
    """chat-client in a pseudo-terminal, typed at as a person would; the passwords are never shown."""
    import time

    from tests.terminal import PtyProgram
    from tests.test_e2e_client import CLIENT

    server = ServerProcess(tmp_path, ["--endpoint", "tcp:0:interface=127.0.0.1"])
    endpoint = f"tcp:host=127.0.0.1:port={server.port}"
    me = PtyProgram(CLIENT + ["--endpoint", endpoint, "--nick", "dave"])
    try:
        me.wait_for("dave has joined lobby")
        me.type("/register\r")
        me.wait_for("New password:")
        me.type(PASSWORD + "\r")
        me.wait_for("registered: dave is your account")
        me.type("/password\r")
        me.wait_for("Current password:")
        me.type(PASSWORD + "\r")
        me.wait_for("New password:")
        me.type("second-" + PASSWORD + "\r")
        me.wait_for("your password is changed")
        me.type("\x1b[A\x1b[A")  # neither password is in the input history
        time.sleep(0.3)
        assert PASSWORD not in me.text()
        me.type("\x03")
        assert me.wait_exit() == 0
    finally:
        me.close()

    again = PtyProgram(CLIENT + ["--endpoint", endpoint, "--nick", "dave"])
    try:
        again.wait_for("Password:")
        again.type(PASSWORD + "\r")  # the old one
        again.wait_for("wrong password for dave")
        again.wait_for("Password:")
        again.type("second-" + PASSWORD + "\r")
        again.wait_for("dave has joined lobby")
        assert PASSWORD not in again.text()
        again.type("\x03")
        assert again.wait_exit() == 0
    finally:
        again.close()
        server.kill()


ACCOUNTS_TOOL = [sys.executable, "-m", "chat.accounttool"]


def accounts_tool(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ACCOUNTS_TOOL, *args], input=stdin, capture_output=True, text=True, timeout=60,
                          env=source_env())


def test_the_operator_adds_imports_and_drops_accounts_while_the_server_runs(tmp_path: Path) -> None:
    """chat-accounts: for --registration closed, and to move a password file's accounts into the chat."""
    server = ServerProcess(tmp_path, ["--endpoint", "tcp:0:interface=127.0.0.1", "--registration", "closed"])
    data = str(tmp_path / "chat-data")
    added = accounts_tool("--data-dir", data, "add", "bob", stdin="builder-pass\n")
    assert (added.returncode, added.stdout) == (0, "added bob\n"), added
    (tmp_path / "passwords.txt").write_text("carol:carol-pass-1\nweak:short\nBOB:other-pass\n")
    imported = accounts_tool("--data-dir", data, "import", str(tmp_path / "passwords.txt"))
    assert imported.returncode == 1, "a line was refused"
    assert imported.stdout.splitlines() == [
        "added carol", "chat-accounts: weak: a password needs at least 8 characters",
        "chat-accounts: BOB: the nickname BOB (or one that looks like it) is registered"]

    for nick, password in (("bob", "builder-pass"), ("carol", "carol-pass-1")):
        client = WireClient(server.host, server.port)
        client.send(code=4, text=nick)
        assert client.recv()["error"] == "password-required"  # type: ignore[index]
        client.send(code=4, text=nick, password=password)
        assert client.recv() == {"code": 4, "text": nick, "nick": nick}
        client.close()
    closed = WireClient(server.host, server.port).logon("dave", room=None)
    closed.send(code=15, password="dave-pass-1")
    assert closed.recv()["error"] == "registration-closed"  # type: ignore[index]

    dropped = accounts_tool("--data-dir", data, "drop", "Carol")
    assert (dropped.returncode, dropped.stdout) == (0, "dropped carol\n"), dropped
    WireClient(server.host, server.port).logon("carol", room=None)
    assert accounts_tool("--data-dir", data, "drop", "carol").returncode == 1
    server.stop()
    assert b"carol-pass-1" not in (tmp_path / "chat-data" / "history.sqlite3").read_bytes()


def test_the_operator_adds_an_account_to_a_cluster(tmp_path: Path) -> None:
    redis = RedisProcess(tmp_path / "redis")
    try:
        a = node(tmp_path, redis)
        added = accounts_tool("--redis", redis.url, "add", "erin", stdin="erin-pass-1\n")
        assert added.returncode == 0, added
        client = WireClient(a.host, a.port)
        client.send(code=4, text="erin")
        assert client.recv()["error"] == "password-required"  # type: ignore[index]
        client.send(code=4, text="erin", password="erin-pass-1")
        assert client.recv() == {"code": 4, "text": "erin", "nick": "erin"}
    finally:
        redis.kill()


def test_irssi_registers_then_logs_in_with_sasl(tmp_path: Path) -> None:
    """Debian's irssi, typed at as a person would: REGISTER, then a new connection with SASL PLAIN."""
    from tests.debian import debian_program
    from tests.tmux import TmuxProgram

    irssi = debian_program("irssi")
    server = irc_server(tmp_path)
    host, port = irc_address(server)
    home = tmp_path / "irssi"
    home.mkdir()
    first = TmuxProgram([irssi, "--home", str(home), "-n", "frank", "-c", host, "-p", str(port)], cols=120, rows=30)
    try:
        first.wait_for("Welcome to the chat chat, frank")
        first.type(f"/quote REGISTER * * {PASSWORD}\r")
        first.wait_for("Account frank registered")
        first.type("/quit\r")
        assert first.wait_exit() == 0
    finally:
        first.close()
    again = TmuxProgram([irssi, "--home", str(home), "-n", "frank_"], cols=120, rows=30)
    try:
        again.wait_for("Irssi")
        again.type(f"/network add -sasl_mechanism plain -sasl_username frank -sasl_password {PASSWORD} chattest\r")
        again.type(f"/server add -network chattest {host} {port}\r")
        again.type("/connect chattest\r")
        again.wait_for("You are now logged in as frank")
        again.wait_for("SASL authentication succeeded")  # irssi's words for 903
        again.type("/nick frank\r")  # its own account's nickname: no password asked again
        again.wait_for("You're now known as frank")
        again.type("/quit\r")
        assert again.wait_exit() == 0
    finally:
        again.close()
        server.stop()

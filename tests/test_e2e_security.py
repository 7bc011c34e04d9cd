"""
The holes of security round three (issue 22), each tried where it was
found: on a real C{twistd chat} process, over an IRC socket, a WebSocket
and plain HTTP on loopback.
"""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path

from tests.processes import TIMEOUT, ServerProcess, WireClient
from tests.test_e2e_irc import IRCSocket, irc_address

WEB_LISTENING = re.compile(rb"web front end listening on ([\d.]+):(\d+)")


def server(tmp_path: Path, *extra: str) -> ServerProcess:
    return ServerProcess(tmp_path, ["--endpoint", "tcp:0:interface=127.0.0.1",
                                    "--irc-endpoint", "tcp:0:interface=127.0.0.1",
                                    "--web-endpoint", "tcp:0:interface=127.0.0.1", *extra])


def http(host: str, port: int, request: bytes) -> bytes:
    """What the web port answers to C{request}, read until it closes."""
    with socket.create_connection((host, port), timeout=TIMEOUT) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_an_irc_rename_into_a_registered_nickname_needs_its_password(tmp_path: Path) -> None:
    (tmp_path / "passwords.txt").write_text("alice:pw\n")
    process = server(tmp_path, "--auth", f"file:{tmp_path / 'passwords.txt'}")
    host, port = irc_address(process)
    lurker = WireClient(process.host, process.port).logon("lurker")
    mallory = IRCSocket(host, port).in_channel("mallory")
    lurker.recv_until(lambda m: m.get("nick") == "mallory")
    for disguise in ("alice", "ALICE", "\u0430lice", "ALlCE"):
        mallory.send(f"NICK {disguise}")
        answer = mallory.until(lambda line: " 433 " in line or " NICK " in line)[-1]
        assert answer.startswith(f":") and f" 433 mallory {disguise} :" in answer, answer
    alice = WireClient(process.host, process.port)
    alice.send(code=4, text="alice", password="pw")
    assert alice.recv() == {"code": 4, "text": "alice", "nick": "alice"}
    mallory.send("PRIVMSG #lobby :still mallory")
    said = lurker.recv_until(lambda m: m["code"] == 5)[-1]
    assert (said["nick"], said["text"]) == ("mallory", "still mallory")


def test_a_channel_named_many_times_in_one_line_hears_it_once(tmp_path: Path) -> None:
    process = server(tmp_path)
    host, port = irc_address(process)
    bystander = WireClient(process.host, process.port).logon("bystander", "c")
    irc = IRCSocket(host, port).in_channel("spammer", "#c")
    irc.send("PRIVMSG " + ",".join(["#c"] * 166) + " :x", "PRIVMSG #c :end")
    texts = [m["text"] for m in bystander.recv_until(lambda m: m.get("text") == "end") if m["code"] == 5]
    assert texts == ["x", "end"]
    irc.send("PRIVMSG a,b,c,d,e :x")
    assert " 407 spammer e :" in irc.until(lambda line: " 407 " in line)[-1]


def test_the_web_port_refuses_a_nul_path_and_a_foreign_host_without_a_traceback(tmp_path: Path) -> None:
    process = server(tmp_path)
    match = process.wait_for_output(WEB_LISTENING)
    host, port = match.group(1).decode(), int(match.group(2))
    for _ in range(50):
        answer = http(host, port, b"GET /a%00 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 404 "), answer[:100]
    upgrade = (b"GET /ws HTTP/1.1\r\nHost: evil.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
               b"Origin: http://evil.example\r\n\r\n")
    assert http(host, port, upgrade).startswith(b"HTTP/1.1 400 ")
    time.sleep(0.5)
    log = process.output.decode(errors="replace")
    assert "Traceback" not in log and "Unhandled Error" not in log, log[-2000:]
    assert log.count("refused a web request for host") == 1, "once a minute per address"

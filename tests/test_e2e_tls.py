"""TLS end to end: a real server with a plain and a TLS listener, real clients verifying it."""

from __future__ import annotations

import re
import socket
import ssl
import subprocess
import sys
from pathlib import Path

from chat.certs import self_signed
from tests.processes import (
    TIMEOUT,
    ServerProcess,
    WireClient,
    free_port_number,
    source_env,
)
from tests.test_e2e_client import CLIENT


def write_cert(directory: Path, host: str) -> tuple[Path, Path]:
    cert, key = self_signed(host)
    (directory / f"{host}.pem").write_bytes(cert)
    (directory / f"{host}.key").write_bytes(key)
    return directory / f"{host}.pem", directory / f"{host}.key"


def tls_server(tmp_path: Path, host: str) -> tuple[ServerProcess, int, Path]:
    cert, key = write_cert(tmp_path, host)
    n = free_port_number()
    server = ServerProcess(tmp_path, [
        "--endpoint", "tcp:0:interface=127.0.0.1",
        "--tls-port", str(1500 + n), "--tls-cert", str(cert), "--tls-key", str(key), "--interface", "127.0.0.1",
    ])
    try:
        server.wait_for_output(re.compile(rb"listening on 127.0.0.1:%d \(ssl:" % (1500 + n)))
    except BaseException:
        server.kill()
        raise
    return server, n, cert


def test_plain_and_tls_together_with_verified_client(tmp_path: Path) -> None:
    server, n, cert = tls_server(tmp_path, "localhost")
    try:
        plain = WireClient(server.host, server.port).logon("plain")
        result = subprocess.run(
            CLIENT + ["--tls", "--ca", str(cert), "--server", "localhost", "--port", str(n), "--nick", "secure"],
            input=b"over tls\n", capture_output=True, timeout=TIMEOUT, env=source_env(),
        )
        assert result.returncode == 0, result
        assert b"[lobby] <secure> over tls" in result.stdout
        got = plain.recv_until(lambda m: m["code"] == 5)
        assert got[-1]["text"] == "over tls"
    finally:
        server.kill()


def test_wrong_host_name_is_refused_and_nothing_is_sent(tmp_path: Path) -> None:
    server, n, cert = tls_server(tmp_path, "chat.example.org")
    try:
        watcher = WireClient(server.host, server.port).logon("watcher")
        result = subprocess.run(
            CLIENT + ["--tls", "--ca", str(cert), "--server", "127.0.0.1", "--port", str(n), "--nick", "victim"],
            input=b"secret\n", capture_output=True, timeout=TIMEOUT, env=source_env(),
        )
        assert result.returncode == 1
        assert b"TLS failed: the server's certificate is for another name" in result.stdout, result.stdout
        assert b"Traceback" not in result.stdout + result.stderr
        assert b"VerificationError" not in result.stdout, "in plain words (issue 28)"
        watcher.send(code=3, room="lobby")
        assert watcher.recv_until(lambda m: m["code"] == 3)[-1]["names"] == ["watcher"]
    finally:
        server.kill()


def test_untrusted_certificate_is_refused(tmp_path: Path) -> None:
    server, n, _ = tls_server(tmp_path, "localhost")
    other, _ = write_cert(tmp_path, "127.0.0.1")
    try:
        result = subprocess.run(
            CLIENT + ["--tls", "--ca", str(other), "--server", "localhost", "--port", str(n), "--nick", "x"],
            input=b"", capture_output=True, timeout=TIMEOUT, env=source_env(),
        )
        assert result.returncode == 1
        assert b"TLS failed: the server's certificate is not one this client trusts" in result.stdout, result.stdout
        assert b"SSL routines" not in result.stdout, "in plain words (issue 28)"
    finally:
        server.kill()


def python_ssl_client(n: int, cert: Path) -> WireClient:
    """A foreign TLS client (Python's ssl module) on port 1500+n, trusting C{cert}, for host name localhost."""
    context = ssl.create_default_context(cafile=str(cert))
    raw = socket.create_connection(("127.0.0.1", 1500 + n), timeout=TIMEOUT)
    client = WireClient.__new__(WireClient)
    client.sock = context.wrap_socket(raw, server_hostname="localhost")
    client._buffer = b""
    return client


def test_python_ssl_client_speaks_the_protocol_over_tls(tmp_path: Path) -> None:
    """A foreign TLS client (Python's ssl module) with the certificate made by chat.certs."""
    server, n, cert = tls_server(tmp_path, "localhost")
    try:
        python_ssl_client(n, cert).logon("tlsuser")
    finally:
        server.kill()


def test_certs_command_writes_a_key_only_the_owner_reads(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "chat.certs", "chat.example.org", "--out", str(tmp_path)],
                   check=True, env=source_env(), timeout=TIMEOUT, capture_output=True)
    assert (tmp_path / "cert.pem").read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert (tmp_path / "key.pem").stat().st_mode & 0o077 == 0


def test_a_quit_over_tls_is_heard_at_once(tmp_path: Path) -> None:
    """
    The rooms hear a clean quit when it is made, not when the TLS close is
    over: a client that says goodbye but leaves its socket open (as a
    client that never answers the server's close_notify does) is gone at once.
    """
    server, n, cert = tls_server(tmp_path, "localhost")
    try:
        watcher = WireClient(server.host, server.port).logon("watcher")
        leaver = python_ssl_client(n, cert).logon("leaver")
        watcher.recv_until(lambda m: m.get("nick") == "leaver")
        leaver.send(code=2, close=True, text="lunch")
        assert leaver.recv() == {"code": 2, "close": True, "text": "Goodbye."}
        got = watcher.recv(timeout=3.0)  # the server drops a client that never closes after 10 s
        assert got is not None and got["text"] == "leaver has quit: lunch", got
        WireClient(server.host, server.port).logon("leaver")  # the nickname is free again
        leaver.sock.close()
    finally:
        server.kill()


def test_a_tls_mismatch_says_what_to_do(tmp_path: Path) -> None:
    server, n, cert = tls_server(tmp_path, "localhost")
    try:
        plain_to_tls = subprocess.run(CLIENT + ["--server", "127.0.0.1", "--port", str(n), "--nick", "x"],
                                      input=b"", capture_output=True, timeout=TIMEOUT, env=source_env())
        assert plain_to_tls.returncode == 1
        assert b"connect with --tls" in plain_to_tls.stdout, plain_to_tls.stdout
        (tmp_path / "plain").mkdir()
        m = free_port_number()
        plain = ServerProcess(tmp_path / "plain", ["--port", str(m), "--interface", "127.0.0.1"])
        try:
            tls_to_plain = subprocess.run(
                CLIENT + ["--tls", "--ca", str(cert), "--server", "localhost", "--port", str(m), "--nick", "x"],
                input=b"", capture_output=True, timeout=TIMEOUT, env=source_env())
        finally:
            plain.kill()
        assert tls_to_plain.returncode == 1
        assert b"does not speak TLS on this port: connect without --tls" in tls_to_plain.stdout, tls_to_plain.stdout
    finally:
        server.kill()

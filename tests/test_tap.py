"""The twistd plugin's options, as they become listening endpoints."""

from __future__ import annotations

import subprocess
import sys

import pytest
from twisted.internet import endpoints, reactor
from twisted.python import usage

from chat.tap import BACKLOG, Options


def test_the_listeners_the_options_make_queue_a_burst_of_connects() -> None:
    """Twisted's default backlog (50) makes a burst of connects wait for SYN retries."""
    options = Options()
    options.parseOptions(["--port", "7", "--interface", "127.0.0.1", "--irc-port", "6667", "--no-history"])
    descriptions = [*options["endpoint"], *options["irc-endpoint"]]
    assert descriptions == [f"tcp:1507:backlog={BACKLOG}:interface=127.0.0.1",
                            f"tcp:6667:backlog={BACKLOG}:interface=127.0.0.1"]
    for description in descriptions:
        endpoint = endpoints.serverFromString(reactor, description)
        assert endpoint._backlog == BACKLOG  # type: ignore[attr-defined]


def test_the_web_port_and_its_origins() -> None:
    options = Options()
    options.parseOptions(["--interface", "127.0.0.1", "--web-port", "8080", "--web-origin", "https://chat.example.org",
                          "--web-endpoint", "ssl:8443:privateKey=k.pem:certKey=c.pem", "--no-history"])
    assert options["web-endpoint"] == ["ssl:8443:privateKey=k.pem:certKey=c.pem",
                                       f"tcp:8080:backlog={BACKLOG}:interface=127.0.0.1"]
    assert options["web-origin"] == ["https://chat.example.org"]
    for bad in (["--web-port", "70000"], ["--web-origin", "chat.example.org"]):
        with pytest.raises(usage.UsageError, match="--web-"):
            Options().parseOptions([*bad, "--no-history"])


def test_without_a_web_port_neither_autobahn_nor_twisted_web_is_loaded() -> None:
    code = ("import sys; from chat.tap import Options, makeService; o = Options(); o.parseOptions(['--no-history']); "
            "makeService(o); print('autobahn' in sys.modules, 'chat.web' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_the_open_files_limit_is_raised_to_the_hard_limit() -> None:
    """Each client is a file descriptor: a soft limit of 256 (or 1,024) would refuse the 257th."""
    script = ("import resource; soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE); "
              "resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard)); "
              "from chat.tap import raise_fd_limit; print(raise_fd_limit(), hard, resource.getrlimit(resource.RLIMIT_NOFILE)[0])")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    before_after, hard, now = " ".join(out[:2]), int(out[2]), int(out[3])
    assert before_after.startswith("(256,")
    assert now == min(hard, 1 << 20) > 256


def test_a_port_in_use_is_found_before_twistd_starts() -> None:
    """Issue 28: a port in use was a 20-line traceback (cut off in daemon mode)."""
    import socket

    from chat.tap import port_in_use

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert port_in_use(f"tcp:{port}:interface=127.0.0.1") == (
            f"port {port} is in use (another server?): stop it, or choose another "
            "(--port N for 1500+N, or --endpoint tcp:PORT)")
        assert port_in_use(f"tcp:port={port}:interface=127.0.0.1") is not None
        with pytest.raises(usage.UsageError, match=f"port {port} is in use"):
            Options().parseOptions(["--no-history", "--endpoint", f"tcp:{port}:interface=127.0.0.1"])
    assert port_in_use(f"tcp:{port}:interface=127.0.0.1") is None  # free again
    assert port_in_use("tcp:0") is None and port_in_use("unix:/tmp/x") is None


def test_after_a_usage_error_the_usage_is_one_line() -> None:
    options = Options()
    assert "--max-per-address" in str(options)
    with pytest.raises(usage.UsageError):
        options.parseOptions(["--port", "5000"])
    assert str(options).count("\n") <= 1 and "twistd chat --help" in str(options)


def test_operators_from_the_command_line_and_a_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    opers = tmp_path / "opers.txt"
    opers.write_text("# the operators\ncarol\n\ndave  # on call\n")
    options = Options()
    options.parseOptions(["--oper", "alice", "--oper-file", str(opers), "--no-history"])
    assert options["oper"] == ["alice", "carol", "dave"]
    with pytest.raises(usage.UsageError, match="--oper-file: cannot read"):
        Options().parseOptions(["--oper-file", str(tmp_path / "missing"), "--no-history"])
    with pytest.raises(usage.UsageError, match="--registration must be open or closed"):
        Options().parseOptions(["--registration", "maybe", "--no-history"])

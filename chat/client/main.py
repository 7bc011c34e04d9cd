"""
C{chat-client}: the logon form (server, nickname, port number) and then
chatting, full-screen on a terminal or line by line through a pipe.
"""

from __future__ import annotations

import fcntl
import os
import signal
import struct
import sys
import termios
import tomllib
import tty
from collections.abc import Sequence
from pathlib import Path

from twisted.application.internet import ClientService, backoffPolicy
from twisted.internet import endpoints, ssl, stdio
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.python import usage

from chat.client.app import ChatClient, Phase
from chat.client.log import LoggedView
from chat.client.logon import LogonForm, check_port_number, checked_nick, split_server, tcp_port
from chat.client.protocol import ChatClientFactory
from chat.client.render import Event
from chat.message import DEFAULT_ROOM, PALETTE
from chat.names import ChatError, check_room


class Options(usage.Options):
    synopsis = "Usage: chat-client [--server HOST] [--port N] [--nick NICK] [--tls [--ca CERT]] [options]"
    longdesc = (
        "Log on to a chat server and chat.  Questions the options leave open (server, "
        "nickname, port number) are asked first, as in the original ChatClient's logon form.  "
        "On a terminal the client is full-screen; with input from a pipe it reads one "
        "message per line and prints one received line per line."
    )
    optParameters = [
        ["server", "s", None, "server host name or address, or HOST:PORT for any TCP port (asked if absent; "
                              "default localhost)"],
        ["nick", "n", None, "nickname (asked if absent)"],
        ["port", "p", None, "port number N from 0 to 1499: the server's TCP port 1500+N (asked if absent)"],
        ["endpoint", "e", None, "client endpoint description, e.g. tcp:host=example.org:port=1500 (replaces --server and --port)"],
        ["room", "r", DEFAULT_ROOM, "room to join after logon"],
        ["text-color", None, "default", "colour of your text: " + ", ".join(PALETTE)],
        ["color", None, "auto", "colour codes in pipe mode: auto (none), always, never"],
        ["password-file", None, None, "file holding the password of a registered nickname (or set CHAT_PASSWORD)"],
        ["ca", None, None, "with --tls: trust this PEM certificate (e.g. a self-signed one) instead of the system's CAs"],
        ["log-dir", None, None, "write each room's and each private conversation's lines to DIR/NAME.log"],
        ["config", None, None, "read defaults from this TOML file (default: ~/.config/chat/client.toml, if there is one)"],
    ]
    highlights: list[str]

    also: list[str]

    def __init__(self) -> None:
        super().__init__()
        self.highlights = []
        self.also = []  # more rooms to join at logon (from the config file)

    def read_config(self, path: Path, required: bool) -> None:
        """
        Defaults from a TOML file, for what people retype: server (HOST or
        HOST:PORT), port, endpoint, nick, tls, ca, rooms, highlight,
        text-color, reconnect, log-dir.
        The command line wins over it.
        """
        try:
            with open(path, "rb") as f:
                config = tomllib.load(f)
        except FileNotFoundError:
            if required:
                raise usage.UsageError(f"no config file {path}") from None
            return
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise usage.UsageError(f"cannot read the config file {path}: {e}") from None
        known = {"server", "port", "endpoint", "nick", "tls", "ca", "rooms", "highlight", "text-color", "reconnect",
                 "log-dir"}
        unknown = sorted(set(config) - known)
        if unknown:
            raise usage.UsageError(f"{path}: unknown setting {unknown[0]!r} (known: {', '.join(sorted(known))})")
        for key in ("server", "endpoint", "nick", "ca", "text-color", "log-dir"):
            if key in config:
                self[key] = str(config[key])
        if "port" in config:
            self["port"] = str(config["port"])
        for key in ("tls", "reconnect"):
            if key in config:
                self[key] = bool(config[key])
        rooms = config.get("rooms", [])
        rooms = [rooms] if isinstance(rooms, str) else [str(r) for r in rooms]
        if rooms:
            self["room"], self.also = rooms[0], rooms[1:]
        highlight = config.get("highlight", [])
        self.highlights.extend([highlight] if isinstance(highlight, str) else [str(w) for w in highlight])

    def opt_highlight(self, word: str) -> None:
        """a word that marks a line and rings the bell, as your nickname does (repeatable)"""
        self.highlights.append(word)
    optFlags = [
        ["reconnect", None, "keep reconnecting (with backoff) when the connection is lost"],
        ["tls", None, "connect with TLS, verifying the server's certificate and host name"],
    ]

    def opt_version(self) -> None:
        """Show the version of chat-client and exit."""
        from importlib.metadata import PackageNotFoundError, version

        try:
            mine = version("chat")
        except PackageNotFoundError:
            mine = "unknown"
        import twisted

        sys.stdout.write(f"chat-client {mine} (Twisted {twisted.__version__})\n")
        raise SystemExit(0)

    def postOptions(self) -> None:
        try:
            if self["server"] is not None:
                split_server(self["server"])  # HOST, or HOST:PORT (the logon form takes the port from it)
            if self["port"] is not None:
                self["port"] = check_port_number(self["port"])
            if self["nick"] is not None:
                self["nick"] = checked_nick(self["nick"])
        except ValueError as e:
            raise usage.UsageError(str(e)) from None
        try:
            check_room(self["room"])
        except ChatError as e:
            raise usage.UsageError(e.text) from None
        if self["text-color"] not in PALETTE:
            raise usage.UsageError("--text-color must be one of " + ", ".join(PALETTE))
        if self["color"] not in ("auto", "always", "never"):
            raise usage.UsageError("--color must be auto, always or never")
        if self["ca"] is not None and not self["tls"]:
            raise usage.UsageError("--ca goes with --tls")
        if self["tls"] and self["endpoint"]:
            raise usage.UsageError("--tls goes with --server/--port; for --endpoint use a tls: description")


def endpoint_description(values: dict[str, object]) -> str:
    host = str(values["server"]).replace(":", r"\:")
    return f"tcp:host={host}:port={tcp_port(values)}"


def read_password(options: Options) -> str | None:
    """From --password-file or CHAT_PASSWORD: never from the command line, where ps shows it."""
    if options["password-file"]:
        return Path(options["password-file"]).read_text(encoding="utf-8").strip()
    return os.environ.get("CHAT_PASSWORD") or None


def make_endpoint(reactor: object, options: Options, values: dict[str, object]) -> IStreamClientEndpoint:
    """
    The endpoint to the server: a strports description, or TCP to
    --server at 1500+N, wrapped in TLS that verifies the certificate and
    host name when --tls is given (never a fallback to plain text).
    """
    if options["endpoint"]:
        return endpoints.clientFromString(reactor, options["endpoint"])
    if not options["tls"]:
        return endpoints.clientFromString(reactor, endpoint_description(values))
    host, port = str(values["server"]), tcp_port(values)
    trust = ssl.Certificate.loadPEM(Path(options["ca"]).read_bytes()) if options["ca"] else ssl.platformTrust()
    tls_options = ssl.optionsForClientTLS(host, trustRoot=trust)
    return endpoints.wrapClientTLS(tls_options, endpoints.HostnameEndpoint(reactor, host, port))


def terminal_size(fd: int) -> tuple[int, int]:
    try:
        rows, cols, _, _ = struct.unpack("hhhh", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
    except OSError:
        return 80, 24
    return (cols or 80), (rows or 24)


def run(options: Options) -> int:
    from twisted.internet import reactor

    exit_code = [0]
    screen: list[object] = []  # the full-screen terminal's stdio transport, once there is one
    views: list[object] = []  # the UI the client shows things in

    def stop() -> None:
        if reactor.running:
            reactor.stop()

    def finish(code: int) -> None:
        exit_code[0] = code
        if screen:
            # What was last drawn (the reason, the status) is written out
            # first: the terminal stops the reactor once it is flushed.
            screen[0].loseConnection()  # type: ignore[attr-defined]
            reactor.callLater(2.0, stop)
        else:
            reactor.callLater(0, stop)

    def start(view: object, form: LogonForm) -> ChatClient:
        views.append(view)
        if options["log-dir"]:
            view = LoggedView(view, Path(options["log-dir"]), me=str(form.values["nick"]))
        client = ChatClient(view, reactor, str(form.values["nick"]), room=options["room"],  # type: ignore[arg-type]
                            color=options["text-color"], reconnect=options["reconnect"],
                            password=read_password(options), highlights=options.highlights, also=options.also)
        if isinstance(view, LoggedView):
            view.me_of = lambda: client.nick  # whose private conversation a line belongs to, after renames too
        description = options["endpoint"] or endpoint_description(form.values)
        endpoint = make_endpoint(reactor, options, form.values)
        factory = ChatClientFactory(client)
        if options["reconnect"]:
            service = ClientService(endpoint, factory, retryPolicy=backoffPolicy(initialDelay=0.5, maxDelay=15.0))
            service.startService()
            reactor.addSystemEventTrigger("before", "shutdown", service.stopService)
        else:
            def failed(reason: object) -> None:
                view.show(Event("error", f"cannot connect to {description}: {reason.getErrorMessage()}"))  # type: ignore[attr-defined]
                client.move(Phase.NOT_CONNECTED)
                view.finish(1)  # type: ignore[attr-defined]

            endpoint.connect(factory).addErrback(failed)
        return client

    given = {"server": options["server"], "nick": options["nick"], "port": options["port"]}
    if options["endpoint"]:
        given.update(server="-", port=0)
    form = LogonForm(**given)

    if os.isatty(sys.stdin.fileno()) and os.isatty(sys.stdout.fileno()):
        from chat.client.terminal import ChatServerProtocol, ChatTerminal

        fd = sys.stdin.fileno()
        saved = termios.tcgetattr(fd)
        out = os.dup(sys.stdout.fileno())  # stdio closes stdout when it is done; the last words go here
        server_protocol = ChatServerProtocol(ChatTerminal, form, start, finish, terminal_size(fd), None, stop)

        def resized(*args: object) -> None:
            width, height = terminal_size(fd)
            terminal = server_protocol.terminalProtocol
            if terminal is not None:
                reactor.callFromThread(terminal.terminalSize, width, height)  # type: ignore[attr-defined]

        tty.setraw(fd)
        try:
            screen.append(stdio.StandardIO(server_protocol))
            signal.signal(signal.SIGWINCH, resized)
            reactor.run()
        finally:
            termios.tcsetattr(fd, termios.TCSANOW, saved)
            # Undo the scroll region and colours, and leave the cursor below the chat.
            rows = terminal_size(fd)[1]
            os.write(out, b"\x1b[0m\x1b[r\x1b[%d;1H\r\n" % rows)
            # Why it ended, where it stays readable after the program has gone.
            last = getattr(views[0], "last_error", None) if views else None
            if exit_code[0] and last:
                os.write(out, f"chat-client: {last}\n".encode("utf-8", "replace"))
            os.close(out)
    else:
        from chat.client.pipe import PipeUI

        color = options["color"] == "always"
        stdio.StandardIO(PipeUI(form, start, finish, color=color))
        reactor.run()
    return exit_code[0]


def config_path(argv: Sequence[str]) -> tuple[Path, bool]:
    """The config file: --config's (which must exist), or the usual place (which may not)."""
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            return Path(argv[i + 1]), True
        if arg.startswith("--config="):
            return Path(arg.split("=", 1)[1]), True
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "chat" / "client.toml", False


def main(argv: Sequence[str] | None = None) -> None:
    options = Options()
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        options.read_config(*config_path(args))
        options.parseOptions(args)
    except usage.UsageError as e:
        sys.stderr.write(f"{options}\nchat-client: {e}\n")
        raise SystemExit(2)
    raise SystemExit(run(options))


if __name__ == "__main__":
    main()

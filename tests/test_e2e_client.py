"""
The terminal client driven as a person would (keys into a pseudo-terminal,
the screen read back through a VT100 emulator), and the pipe mode driven by
a script, both against a real `twistd chat`.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import (
    TIMEOUT,
    ServerProcess,
    WireClient,
    free_port_number,
    source_env,
)
from tests.terminal import PtyProgram

CLIENT = [sys.executable, "-m", "chat.client"]


@pytest.fixture
def seed_server(tmp_path: Path) -> Iterator[tuple[ServerProcess, int]]:
    """A server on 127.0.0.1 port 1500+N, reachable through the logon form."""
    n = free_port_number()
    server = ServerProcess(tmp_path, ["--port", str(n), "--interface", "127.0.0.1"])
    yield server, n
    server.kill()


@pytest.fixture
def terminal() -> Iterator[list[PtyProgram]]:
    programs: list[PtyProgram] = []
    yield programs
    for p in programs:
        p.close()


def start(terminal: list[PtyProgram], args: list[str]) -> PtyProgram:
    program = PtyProgram(CLIENT + args)
    terminal.append(program)
    return program


def test_logon_form_as_in_the_seed(seed_server: tuple[ServerProcess, int], terminal: list[PtyProgram]) -> None:
    server, n = seed_server
    holder = WireClient(server.host, server.port).logon("alice")
    me = start(terminal, [])
    me.wait_for("Server [localhost]:")
    me.type("127.0.0.1\r")
    me.wait_for("Nickname:")
    me.type("not valid\r")
    me.wait_for("!! a nickname starts with a letter")
    me.type("alice\r")  # valid, but taken on the server: asked again after connecting
    me.wait_for("Port number [0]:")
    me.type("1500\r")
    me.wait_for("from 0 to 1499")
    me.type(f"{n}\r")
    me.wait_for("the nickname alice is in use")
    me.wait_for("Nickname:")
    me.type("bob\r")
    me.wait_for("bob has joined lobby")
    me.wait_for(" bob | lobby | logged on ")
    holder.recv_until(lambda m: m["code"] == 1 and m["nick"] == "bob")
    me.type("/quit\r")
    assert me.wait_exit() == 0
    assert me.modes_restored()


def test_typed_line_survives_incoming_messages(server: ServerProcess, terminal: list[PtyProgram]) -> None:
    me = start(terminal, ["--endpoint", f"tcp:host=127.0.0.1:port={server.port}", "--nick", "alice"])
    me.wait_for("alice has joined lobby")
    bob = WireClient(server.host, server.port).logon("bob")
    me.wait_for("bob has joined lobby")
    me.type("half of my li")
    me.wait_for("> half of my li")
    for i in range(40):
        bob.send(code=5, text=f"interruption {i}", color="green")
    me.wait_for("interruption 39")
    input_row = me.lines()[-1]
    assert input_row.rstrip() == "> half of my li", input_row
    assert me.cursor() == (len("> half of my li"), len(me.lines()) - 1)
    # The status line sits between the chat and the input line.
    assert "alice | lobby | logged on" in me.lines()[-2]
    # The sender's colour is on the text; the nickname has its own colour.
    row = me.row_of("interruption 39")
    x = me.lines()[row].index("interruption 39")
    assert me.char_at(x, row).fg == "green"
    nick_x = me.lines()[row].index("bob")
    assert me.char_at(nick_x, row).bold
    me.type("ne\r")
    assert bob.recv_until(lambda m: m["code"] == 5 and m["nick"] == "alice")[-1]["text"] == "half of my line"
    # History: the arrow up brings the line back.
    me.type("\x1b[A")
    me.wait_for("> half of my line")
    me.type("\x04")  # Ctrl-D on a non-empty line does not quit; clear it first
    me.type("\x7f" * len("half of my line"))
    me.type("\x04")
    assert me.wait_exit() == 0
    assert me.modes_restored()


def test_hostile_text_is_shown_harmlessly(server: ServerProcess, terminal: list[PtyProgram]) -> None:
    me = start(terminal, ["--endpoint", f"tcp:host=127.0.0.1:port={server.port}", "--nick", "alice"])
    me.wait_for("alice has joined lobby")
    mallory = WireClient(server.host, server.port).logon("mallory")
    me.wait_for("mallory has joined lobby")
    mallory.send(code=5, text="\x1b[2J\x1b[H\x1b]0;pwned\x07\x1b[31mRED\x9b2Jend\u202eevil")
    me.wait_for("evil")
    screen = me.text()
    assert "alice has joined lobby" in screen, "the screen was cleared"
    # The server strips the control characters (C0, C1); the client shows the bidi override as a mark
    # (what it does with control characters from an older server: tests/test_client_commands.py).
    assert "[2J[H]0;pwned[31mRED2Jend<U+202E>evil" in screen
    assert me.screen.title == ""
    assert me.lines()[-1].startswith("> ")
    me.type("\x03")  # Ctrl-C leaves cleanly too
    assert me.wait_exit() == 0
    assert me.modes_restored()


def test_server_shutdown_is_shown_and_the_client_exits_cleanly(
        server: ServerProcess, terminal: list[PtyProgram]) -> None:
    me = start(terminal, ["--endpoint", f"tcp:host=127.0.0.1:port={server.port}", "--nick", "alice"])
    me.wait_for("alice has joined lobby")
    server.stop(signal.SIGTERM)
    me.wait_for("The server is shutting down.")
    assert me.wait_exit() == 0
    assert me.modes_restored()
    assert b"Traceback" not in me.raw


def test_reconnect_rejoins_after_the_server_returns(tmp_path: Path, terminal: list[PtyProgram]) -> None:
    n = free_port_number()
    args = ["--port", str(n), "--interface", "127.0.0.1"]
    server = ServerProcess(tmp_path, args)
    try:
        me = start(terminal, ["--server", "127.0.0.1", "--port", str(n), "--nick", "alice", "--room", "dev",
                              "--reconnect"])
        me.wait_for("alice has joined dev")
        server.stop(signal.SIGTERM)
        me.wait_for("reconnecting")
        server = ServerProcess(tmp_path, args)
        deadline = time.monotonic() + TIMEOUT
        while me.text().count("alice has joined dev") < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert me.text().count("alice has joined dev") == 2, me.text()
        me.wait_for("alice | dev | logged on")
        me.type("/quit\r")
        assert me.wait_exit() == 0
    finally:
        server.kill()


def test_pipe_mode_for_scripts(server: ServerProcess) -> None:
    bob = WireClient(server.host, server.port).logon("bob")
    script = "hello from a script\n/me hums\n\x1b[2J escaped\n"
    result = subprocess.run(
        CLIENT + ["--endpoint", f"tcp:host=127.0.0.1:port={server.port}", "--nick", "bot"],
        input=script.encode(), capture_output=True, timeout=TIMEOUT, env=source_env(),
    )
    assert result.returncode == 0, result
    out = result.stdout.decode()
    assert "[lobby] -- bot has joined lobby" in out
    assert "[lobby] <bot> hello from a script" in out
    assert "[lobby] * bot hums" in out
    assert "[lobby] <bot> [2J escaped" in out  # the server strips control characters (the ESC) before relaying
    assert "\x1b" not in out, "no colour codes unless --color=always"
    got = bob.recv_until(lambda m: m["code"] == 2)
    assert [m["text"] for m in got if m["code"] == 5] == ["hello from a script", "hums", "[2J escaped"]
    assert got[-1]["text"] == "bot has quit"


def test_a_hundred_piped_lines_all_arrive_in_order_then_a_clean_quit(server: ServerProcess) -> None:
    """Issue 28: about half of 100 piped lines arrived; the client left while flood control held the rest."""
    bob = WireClient(server.host, server.port).logon("bob")
    script = "".join(f"line {i}\n" for i in range(1, 101))
    result = subprocess.run(
        CLIENT + ["--endpoint", f"tcp:host=127.0.0.1:port={server.port}", "--nick", "dave"],
        input=script.encode(), capture_output=True, timeout=60, env=source_env(),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    got = bob.recv_until(lambda m: m["code"] == 2 and m.get("nick") == "dave")
    assert [m["text"] for m in got if m["code"] == 5] == [f"line {i}" for i in range(1, 101)]
    assert got[-1]["text"] == "dave has quit"


def test_pipe_mode_colour_on_request_and_taken_nick(server: ServerProcess) -> None:
    holder = WireClient(server.host, server.port).logon("bob")
    taken = subprocess.run(
        CLIENT + ["--endpoint", f"tcp:host=127.0.0.1:port={server.port}", "--nick", "BOB"],
        input=b"hi\n", capture_output=True, timeout=TIMEOUT, env=source_env(),
    )
    assert taken.returncode == 2
    assert b"in use" in taken.stdout
    holder.close()
    coloured = subprocess.run(
        CLIENT + ["--endpoint", f"tcp:host=127.0.0.1:port={server.port}", "--nick", "carol",
                  "--color=always", "--text-color", "red"],
        input=b"in red\n", capture_output=True, timeout=TIMEOUT, env=source_env(),
    )
    assert coloured.returncode == 0
    assert b"\x1b[31min red\x1b[0m" in coloured.stdout


def test_cannot_connect_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = subprocess.run(
        CLIENT + ["--endpoint", f"tcp:host=127.0.0.1:port={port}", "--nick", "x"],
        input=b"", capture_output=True, timeout=TIMEOUT, env=source_env(),
    )
    assert result.returncode == 1
    assert b"cannot connect" in result.stdout
    assert b"Traceback" not in result.stdout + result.stderr


def _until(check, what: str, program: PtyProgram) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not check() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert check(), f"{what}:\n{program.text()}"


def test_a_line_wider_than_the_terminal_scrolls_sideways(server: ServerProcess, terminal: list[PtyProgram]) -> None:
    """The input line never wraps into the screen: it scrolls under the cursor, and all of it is sent."""
    me = start(terminal, ["--endpoint", f"tcp:host=127.0.0.1:port={server.port}", "--nick", "alice"])
    me.wait_for("alice has joined lobby")
    bob = WireClient(server.host, server.port).logon("bob")
    me.wait_for("bob has joined lobby")
    status_row = me.row_of(" alice | lobby")
    words = " ".join(f"w{i:03d}" for i in range(60))  # 299 characters on a 100-column terminal
    me.type(words)
    bottom = len(me.lines()) - 1
    _until(lambda: me.lines()[-1].rstrip().endswith("w059"), "the end of the line is in view", me)
    assert me.lines()[-1].startswith("> "), me.lines()[-1]
    assert me.cursor() == (99, bottom), "the cursor at the right edge, after the last character"
    assert me.row_of(" alice | lobby") == status_row and "bob has joined lobby" in me.text(), \
        "nothing above the input line moved"
    me.type("\x7f" * 5)  # Backspace over " w059": the line stays filled from the left
    _until(lambda: me.lines()[-1].rstrip().endswith("w058"), "backspacing at the end", me)
    assert len(me.lines()[-1].rstrip()) >= 98, me.lines()[-1]
    assert me.cursor() == (99, bottom)
    me.type(" w059")
    me.type("\x1b[H")  # Home
    _until(lambda: me.lines()[-1].startswith("> w000 w001"), "Home brings the start into view", me)
    assert me.cursor() == (2, bottom)
    me.type("!")
    _until(lambda: me.lines()[-1].startswith("> !w000"), "typing at the start", me)
    me.type("\r")
    said = bob.recv_until(lambda m: m["code"] == 5 and m.get("nick") == "alice")[-1]["text"]
    assert said == "!" + words
    _until(lambda: me.lines()[-1].rstrip() == ">", "the input line is empty again", me)


def test_wide_characters_edit_in_place(server: ServerProcess, terminal: list[PtyProgram]) -> None:
    """CJK and emoji take two columns: the cursor and edits must follow them."""
    me = start(terminal, ["--endpoint", f"tcp:host=127.0.0.1:port={server.port}", "--nick", "alice"])
    me.wait_for("alice has joined lobby")
    bob = WireClient(server.host, server.port).logon("bob")
    me.type("日本語 ok")
    me.wait_for("> 日本語 ok")
    me.type("\x1b[D" * 2 + "\x7f" + "!")  # left twice, backspace over the space, type !
    me.wait_for("> 日本語!ok")
    bottom = len(me.lines()) - 1
    assert me.lines()[-1].rstrip() == "> 日本語!ok", me.lines()[-1]
    assert me.cursor() == (2 + 6 + 1, bottom)
    me.type("\x1b[D" * 2 + "\x7f")  # back over "!" and "語", delete "本"
    _until(lambda: me.lines()[-1].rstrip() == "> 日語!ok", "the edit is drawn", me)
    assert me.cursor() == (2 + 2, bottom)
    bob.send(code=5, text="an interruption 🎉")  # output above must not move the cursor
    me.wait_for("an interruption 🎉")
    assert me.cursor() == (2 + 2, bottom)
    me.type("\x1b[2~x\x1b[2~")  # Insert (type over), x over 語, Insert again
    _until(lambda: me.lines()[-1].rstrip() == "> 日x!ok", "a narrow character typed over a wide one", me)
    assert me.cursor() == (2 + 2 + 1, bottom)
    me.type("\r")
    assert bob.recv_until(lambda m: m["code"] == 5 and m.get("nick") == "alice")[-1]["text"] == "日x!ok"


def test_the_full_screen_client_says_why_it_ended(tmp_path: Path, terminal: list[PtyProgram]) -> None:
    """Nothing listening, or the server killed under a logged-on user: the reason stays on the screen."""
    n = free_port_number()
    nobody = start(terminal, ["--server", "127.0.0.1", "--port", str(n), "--nick", "carol"])
    assert nobody.wait_exit() == 1
    nobody.wait_for("not connected")
    assert b"chat-client: cannot connect to" in nobody.raw.split(b"\x1b[r")[-1], "printed again below the chat"
    server = ServerProcess(tmp_path)
    me = start(terminal, ["--endpoint", f"tcp:host=127.0.0.1:port={server.port}", "--nick", "dave"])
    me.wait_for("dave has joined lobby")
    server.process.send_signal(signal.SIGKILL)
    assert me.wait_exit() == 1
    me.wait_for("disconnected")
    assert b"chat-client: connection lost" in me.raw.split(b"\x1b[r")[-1]


def test_while_the_server_is_away_lines_wait_visibly_and_quit_works(tmp_path: Path,
                                                                    terminal: list[PtyProgram]) -> None:
    server = ServerProcess(tmp_path)
    me = start(terminal, ["--endpoint", f"tcp:host=127.0.0.1:port={server.port}", "--nick", "erin", "--reconnect"])
    me.wait_for("erin has joined lobby")
    server.stop()
    me.wait_for("reconnecting")
    me.type("are you back?\r")
    me.wait_for("queued until connected: are you back?")
    me.type("/quit\r")
    assert me.wait_exit() == 0


def test_version_help_and_the_certs_tool_speak_plainly() -> None:
    version = subprocess.run(CLIENT + ["--version"], capture_output=True, timeout=TIMEOUT, env=source_env())
    assert version.returncode == 0 and version.stdout.startswith(b"chat-client "), version
    helped = subprocess.run(CLIENT + ["--help"], capture_output=True, timeout=TIMEOUT, env=source_env())
    assert helped.stdout.startswith(b"Usage: chat-client "), helped.stdout[:80]
    certs = subprocess.run([sys.executable, "-m", "chat.certs", "--help"], capture_output=True, timeout=TIMEOUT,
                           env=source_env())
    assert certs.returncode == 0 and b"C{" not in certs.stdout, certs.stdout


def test_scrollback_survives_ctrl_l_and_a_resize_and_pageup_goes_back(server: ServerProcess,
                                                                      terminal: list[PtyProgram]) -> None:
    me = start(terminal, ["--endpoint", f"tcp:host=127.0.0.1:port={server.port}", "--nick", "fay"])
    me.wait_for("fay has joined lobby")
    bob = WireClient(server.host, server.port).logon("bob")
    for i in range(60):
        bob.send(code=5, text=f"line {i:02}")
    me.wait_for("line 59")
    assert "line 10" not in me.text()
    me.type("\x0c")  # Ctrl-L: drawn again, not erased
    time.sleep(0.3)
    me.wait_for("line 59")
    me.resize(90, 20)
    time.sleep(0.3)
    me.wait_for("line 59")
    me.type("\x1b[5~")  # PageUp
    me.wait_for("scrolled back")
    me.type("\x1b[5~\x1b[5~")
    me.wait_for("line 10")
    me.type("\x1b[6~" * 6)  # PageDown, back to the newest
    time.sleep(0.3)
    me.wait_for("line 59")
    assert "scrolled back" not in me.text()


def test_readline_keys_edit_the_input_line(server: ServerProcess, terminal: list[PtyProgram]) -> None:
    me = start(terminal, ["--endpoint", f"tcp:host=127.0.0.1:port={server.port}", "--nick", "gus"])
    me.wait_for("gus has joined lobby")
    me.type("hello brave world")
    me.type("\x17")  # Ctrl-W: the last word
    me.wait_for("> hello brave ")
    me.type("\x01X\x05Y")  # Ctrl-A, type at the start; Ctrl-E, type at the end
    me.wait_for("> Xhello brave Y")
    me.type("\x1bb\x1bbZ")  # Alt-B twice: two words back
    me.wait_for("> Xhello Zbrave Y")
    me.type("\x1bf\x1bfW")  # Alt-F twice: past the end of the next two words
    me.wait_for("> Xhello Zbrave YW")
    me.type("\x1b[1;5DV")  # Ctrl-Left: a word back
    me.wait_for("> Xhello Zbrave VYW")
    me.type("\x01\x0b")  # Ctrl-A then Ctrl-K: all of it
    me.type("kept\x15typed again\r")  # Ctrl-U deletes what is before the cursor
    me.wait_for("<gus> typed again")


def test_a_paste_of_several_lines_asks_first_and_runs_no_command(server: ServerProcess,
                                                                 terminal: list[PtyProgram]) -> None:
    me = start(terminal, ["--endpoint", f"tcp:host=127.0.0.1:port={server.port}", "--nick", "hal"])
    me.wait_for("hal has joined lobby")
    watcher = WireClient(server.host, server.port).logon("watcher")
    me.type("first line\r/quit\rthird line\r")  # one write: a paste
    me.wait_for("Send 3 pasted lines? (y/n")
    # Issue 28: a paste while the question is asked is not its answer (it began with "y")...
    me.type("yes, and more\rof it\r")
    me.wait_for("that looked like another paste")
    me.type("y")  # ... the one key is, without Enter
    me.wait_for("<hal> third line")
    assert "<hal> /quit" in me.text(), "sent as text, not run"
    assert me.process.poll() is None
    me.type("dropped one\rdropped two\r")
    me.wait_for("Send 2 pasted lines? (y/n")
    me.type("n")
    me.wait_for("2 pasted lines dropped")
    me.type("typed by hand\r")
    me.wait_for("<hal> typed by hand")
    said = [m["text"] for m in watcher.recv_until(lambda m: m.get("text") == "typed by hand") if m["code"] == 5]
    assert said == ["first line", "/quit", "third line", "typed by hand"]


def test_a_mention_rings_the_bell(server: ServerProcess, terminal: list[PtyProgram]) -> None:
    me = start(terminal, ["--endpoint", f"tcp:host=127.0.0.1:port={server.port}", "--nick", "ivy",
                          "--highlight", "release"])
    me.wait_for("ivy has joined lobby")
    bob = WireClient(server.host, server.port).logon("bob")
    me.wait_for("bob has joined lobby")
    assert b"\x07" not in me.raw
    bob.send(code=5, text="the release is out")
    me.wait_for("the release is out")
    assert me.raw.count(b"\x07") == 1
    bob.send(code=5, text="Ivy, are you there?")
    me.wait_for("are you there?")
    assert me.raw.count(b"\x07") == 2


def test_tab_completes_a_nickname_as_a_person_types_it(server: ServerProcess, terminal: list[PtyProgram]) -> None:
    carol = WireClient(server.host, server.port).logon("carol")
    me = start(terminal, ["--endpoint", f"tcp:host=127.0.0.1:port={server.port}", "--nick", "jim"])
    me.wait_for("jim has joined lobby")
    me.type("ca\t")
    me.wait_for("> carol: ")
    me.type("lunch?\r")
    assert carol.recv_until(lambda m: m.get("code") == 5)[-1]["text"] == "carol: lunch?"


def test_log_dir_keeps_each_room_and_conversation_in_a_file(server: ServerProcess, tmp_path: Path) -> None:
    bob = WireClient(server.host, server.port).logon("bob")
    logs = tmp_path / "logs"
    done = subprocess.run(
        CLIENT + ["--endpoint", f"tcp:host=127.0.0.1:port={server.port}", "--nick", "kim", "--log-dir", str(logs)],
        input=b"hello lobby\n/join dev\nhello dev\n/msg bob psst\n/quit\n", capture_output=True, timeout=TIMEOUT,
        env=source_env())
    assert done.returncode == 0, done
    bob.recv_until(lambda m: m.get("code") == 6)
    assert sorted(p.name for p in logs.iterdir()) == ["bob.log", "dev.log", "lobby.log"]
    assert "[lobby] <kim> hello lobby" in (logs / "lobby.log").read_text()
    assert "[dev] <kim> hello dev" in (logs / "dev.log").read_text()
    assert "[private] <kim -> bob> psst" in (logs / "bob.log").read_text()
    assert "[lobby] <kim> hello lobby" not in (logs / "dev.log").read_text()


def test_a_config_file_holds_the_defaults_people_retype(server: ServerProcess, tmp_path: Path) -> None:
    watcher = WireClient(server.host, server.port).logon("watcher", room="dev")
    config = tmp_path / "client.toml"
    config.write_text(f'server = "127.0.0.1"\nnick = "lee"\nrooms = ["lobby", "dev"]\nhighlight = ["deploy"]\n'
                      f'endpoint_is_not_needed = false\n')
    bad = subprocess.run(CLIENT + ["--config", str(config)], input=b"", capture_output=True, timeout=TIMEOUT,
                         env=source_env())
    assert bad.returncode == 2 and b"unknown setting 'endpoint_is_not_needed'" in bad.stderr, bad.stderr
    config.write_text('server = "127.0.0.1"\nnick = "lee"\nrooms = ["lobby", "dev"]\n')
    env = source_env(XDG_CONFIG_HOME=str(tmp_path))
    (tmp_path / "chat").mkdir()
    config.rename(tmp_path / "chat" / "client.toml")
    done = subprocess.run(CLIENT + ["--endpoint", f"tcp:host=127.0.0.1:port={server.port}"],
                          input=b"/quit\n", capture_output=True, timeout=TIMEOUT, env=env)
    assert done.returncode == 0, done
    assert watcher.recv_until(lambda m: m.get("code") == 1)[-1]["nick"] == "lee", "joined both rooms as lee"
    # Issue 28: the server as HOST:PORT (any TCP port), or an endpoint, in the config file too.
    for nick, where in (("mia", f'server = "127.0.0.1:{server.port}"'),
                        ("noa", f'endpoint = "tcp:host=127.0.0.1:port={server.port}"')):
        (tmp_path / "chat" / "client.toml").write_text(f'{where}\nnick = "{nick}"\nrooms = ["dev"]\n')
        done = subprocess.run(CLIENT, input=b"/quit\n", capture_output=True, timeout=TIMEOUT, env=env)
        assert done.returncode == 0, done
        assert watcher.recv_until(lambda m: m.get("code") == 1)[-1]["nick"] == nick, where


def test_a_window_per_room_and_conversation_with_an_activity_bar(server: ServerProcess,
                                                                  terminal: list[PtyProgram]) -> None:
    bob = WireClient(server.host, server.port).logon("bob")
    me = start(terminal, ["--endpoint", f"tcp:host=127.0.0.1:port={server.port}", "--nick", "ned"])
    me.wait_for("ned has joined lobby")
    me.type("/join dev\r")
    me.wait_for("[3:dev]")
    bob.send(code=5, text="over here, in lobby")
    me.wait_for("2:lobby+")
    assert "over here" not in me.text(), "not in the dev window"
    me.type("\x1b2")  # Alt-2
    me.wait_for("over here, in lobby")
    me.wait_for("[2:lobby]")
    bob.send(code=6, to="ned", text="a word, ned?")
    me.wait_for("4:bob!")
    me.type("\x1b[1;3D")  # Alt-Left: the window before, the status window
    me.wait_for("[1:status]")
    me.type("\x1b[1;3C\x1b[1;3C")  # Alt-Right twice
    me.wait_for("[3:dev]")
    me.type("/window 4\r")
    me.wait_for("a word, ned?")
    me.type("sure\r")
    got = bob.recv_until(lambda m: m.get("code") == 6 and m.get("nick") == "ned")
    assert got[-1]["text"] == "sure" and got[-1]["to"] == "bob"
    # Issue 28: /query NICK opens that conversation's window (a new one if need be) and shows it.
    me.type("/window 1\r")
    me.wait_for("[1:status]")
    me.type("/query bob\r")
    me.wait_for("[4:bob]")
    me.type("/query carol\r")
    me.wait_for("[5:caro")  # a new window, in front (the status line is cut at the terminal's width)
    me.type("/query bob\r")
    me.wait_for("[4:bob]")  # back to that window (lines typed together would be a paste, asked about first)
    me.type("again\r")
    got = bob.recv_until(lambda m: m.get("code") == 6 and m.get("text") == "again")
    assert got[-1]["to"] == "bob"


def test_scrolling_past_the_top_fetches_older_history(tmp_path: Path, terminal: list[PtyProgram]) -> None:
    server = ServerProcess(tmp_path, ["--endpoint", "tcp:0:interface=127.0.0.1", "--flood-rate", "0"])
    bob = WireClient(server.host, server.port).logon("bob")
    for i in range(120):
        bob.send(code=5, text=f"old {i:03}")
    bob.recv_until(lambda m: m.get("text") == "old 119")
    me = start(terminal, ["--endpoint", f"tcp:host=127.0.0.1:port={server.port}", "--nick", "olga"])
    me.wait_for("old 119")  # the join's replay: the last 50
    for _ in range(4):
        me.type("\x1b[5~")  # PageUp, to the top of what the window holds
        time.sleep(0.2)
    me.wait_for("older lines, from the server")
    for _ in range(8):
        me.type("\x1b[5~")  # each time at the top, the page before comes
        time.sleep(0.2)
    me.wait_for("old 000")  # the first message, two pages before the replay
    assert "old 050" in me.raw.decode("utf-8", "replace")

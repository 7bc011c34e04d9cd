"""The input parser, the logon form and the rendering: pure functions of the client."""

import time

from twisted.trial.unittest import SynchronousTestCase

from chat.client import commands as c
from chat.client.logon import LogonForm, split_server, tcp_port
from chat.client.main import endpoint_description
from chat.client.render import Event, NickColors, Span, ansi, cells, input_window, nick_color, plain, sanitize, styled


class ParseTests(SynchronousTestCase):
    def test_lines_and_commands(self) -> None:
        cases = {
            "hello": c.Say("hello"),
            "   ": None,
            "//etc/passwd is a path": c.Say("/etc/passwd is a path"),
            "/join #dev": c.Join("#dev"),
            "/JOIN dev": c.Join("dev"),
            "/leave": c.Leave(None),
            "/leave dev": c.Leave("dev"),
            "/rooms": c.Rooms(),
            "/who": c.Who(None),
            "/who dev": c.Who("dev"),
            "/msg bob hi there": c.Msg("bob", "hi there"),
            "/nick alicia": c.Nick("alicia"),
            "/color": c.Color(None),
            "/color red": c.Color("red"),
            "/me waves": c.Say("waves", action=True),
            "/quit": c.Quit(""),
            "/quit off to lunch": c.Quit("off to lunch"),
            "/help": c.Help(),
            "/history": c.History(20),
            "/history 5": c.History(5),
            "/query bob": c.Query("bob"),
            "/query": c.Query(None),
            "/query bob hi": c.Msg("bob", "hi"),
            "/away at lunch": c.Away("at lunch"),
            "/part": c.Leave(None),
            "/exit": c.Quit(""),
        }
        for line, expected in cases.items():
            self.assertEqual(c.parse(line), expected, line)

    def test_mistakes_are_local_errors(self) -> None:
        for line in ("/join", "/join a b", "/msg bob", "/msg", "/nick", "/me", "/frobnicate", "/who a b", "/history x", "/history 0"):
            result = c.parse(line)
            self.assertIsInstance(result, c.Invalid, line)
            self.assertTrue(result.why)  # type: ignore[union-attr]
        self.assertIn("/frobnicate", c.parse("/frobnicate x").why)  # type: ignore[union-attr]

    def test_help_names_every_alias(self) -> None:
        for alias in ("/part", "/list", "/names", "/query", "/exit", "/colour", "/away", "/topic"):
            self.assertIn(alias, c.HELP)


class CompletionTests(SynchronousTestCase):
    def test_tab_completes_nicknames_commands_and_rooms(self) -> None:
        nicks, rooms = ["carol", "Cathy", "bob"], ["dev", "design", "lobby"]
        self.assertEqual(c.complete("car", 3, nicks, rooms), ("carol: ", 7, []))
        self.assertEqual(c.complete("hi ca", 5, ["carol"], rooms), ("hi carol ", 9, []))
        self.assertEqual(c.complete("ca", 2, nicks, rooms), ("ca", 2, ["carol", "Cathy"]))
        self.assertEqual(c.complete("/jo", 3, nicks, rooms), ("/join ", 6, []))
        self.assertEqual(c.complete("/join de", 8, nicks, rooms), ("/join de", 8, ["design", "dev"]))
        self.assertEqual(c.complete("/join lo", 8, nicks, rooms), ("/join lobby ", 12, []))
        self.assertEqual(c.complete("/msg bo hi", 7, nicks, rooms), ("/msg bob hi", 8, []))
        self.assertEqual(c.complete("zz", 2, nicks, rooms), ("zz", 2, []))


class LogonFormTests(SynchronousTestCase):
    def test_asks_in_the_seed_order_with_defaults_and_validation(self) -> None:
        form = LogonForm()
        self.assertEqual(form.prompt(), "Server [localhost]: ")
        self.assertIsNone(form.answer(""))
        self.assertEqual(form.prompt(), "Nickname: ")
        self.assertIn("nickname", form.answer("bad nick") or "")
        self.assertEqual(form.prompt(), "Nickname: ")
        self.assertIsNone(form.answer("alice"))
        self.assertEqual(form.prompt(), "Port number [0]: ")
        self.assertIn("0 to 1499", form.answer("1500") or "")
        self.assertIn("whole number", form.answer("x") or "")
        self.assertIsNone(form.answer("7"))
        self.assertIsNone(form.prompt())
        self.assertEqual(form.values, {"server": "localhost", "nick": "alice", "port": 7})

    def test_a_server_may_be_given_as_host_and_tcp_port(self) -> None:
        """Issue 28: HOST:PORT was refused at the logon prompt; only 1500+N could be reached."""
        form = LogonForm()
        self.assertEqual(form.prompt(), "Server [localhost]: ")
        self.assertIn("1 to 65535", form.answer("chat.example.org:70000") or "")
        self.assertIsNone(form.answer("chat.example.org:6000"))
        self.assertIsNone(form.answer("alice"))
        self.assertIsNone(form.prompt(), "the port is known: no port number asked")
        self.assertEqual(form.values, {"server": "chat.example.org", "tcp_port": 6000, "nick": "alice"})
        self.assertEqual(tcp_port(form.values), 6000)
        self.assertEqual(endpoint_description(LogonForm(server="[::1]:6001", nick="a").values),
                         r"tcp:host=\:\:1:port=6001")
        self.assertEqual(tcp_port(LogonForm(server="localhost", port=3, nick="a").values), 1503, "1500+N as ever")
        self.assertEqual(split_server("::1"), ("::1", None), "a bare IPv6 address has no port")

    def test_given_values_skip_questions(self) -> None:
        form = LogonForm(server="h", nick=None, port=3)
        self.assertEqual(form.prompt(), "Nickname: ")


class RenderTests(SynchronousTestCase):
    def test_cells_counts_terminal_columns(self) -> None:
        self.assertEqual(cells("abc"), 3)
        self.assertEqual(cells("日本語"), 6)
        self.assertEqual(cells("🎉!"), 3)
        self.assertEqual(cells("e\u0301"), 1)  # e and a combining acute accent
        self.assertEqual(cells("a\u200db"), 2)  # a zero-width joiner takes no column

    def test_a_long_input_line_scrolls_sideways_only_as_far_as_the_cursor_needs(self) -> None:
        line = list("abcdefghij")
        self.assertEqual(input_window(line, 10, 20), (0, 10), "a line that fits is shown whole")
        self.assertEqual(input_window(line, 10, 5), (6, 10), "the end, with a column for the cursor")
        self.assertEqual(input_window(line, 8, 5, start=6), (6, 10), "moving left within view does not scroll")
        self.assertEqual(input_window(line, 3, 5, start=6), (3, 8), "moving left out of view scrolls back")
        self.assertEqual(input_window(line, 0, 5, start=6), (0, 5))
        wide = list("日本語日本語")
        self.assertEqual(input_window(wide, 6, 7), (3, 6), "wide characters count two columns")
        self.assertEqual(input_window(line[:3], 3, 5, start=6), (0, 3), "a line cut short fits again")
        self.assertEqual(input_window(list("a" * 23), 23, 18, start=23), (6, 23),
                         "backspacing at the end of a scrolled line keeps the columns filled")
        self.assertEqual(input_window(list("a" * 100), 100, 58, start=83), (43, 100), "so does a wider terminal")

    def test_sanitize_neutralises_escapes_and_controls(self) -> None:
        hostile = "\x1b[2J\x1b]0;pwned\x07\r\x08\x9b31m\u202eevil\u200b\n"
        safe = sanitize(hostile)
        self.assertTrue(all(ch.isprintable() for ch in safe), safe)
        self.assertNotIn("\x1b", safe)
        self.assertIn("\u241b[2J", safe)  # ESC shown as the ␛ picture
        self.assertIn("<U+202E>", safe)
        self.assertEqual(sanitize("plain text, é, 名前"), "plain text, é, 名前")

    def test_plain_lines(self) -> None:
        self.assertEqual(plain(Event("chat", "hi", room="lobby", nick="bob")), "[lobby] <bob> hi")
        self.assertEqual(plain(Event("chat", "waves", room="lobby", nick="bob", action=True)), "[lobby] * bob waves")
        self.assertEqual(plain(Event("private", "psst", nick="a", to="b")), "[private] <a -> b> psst")
        self.assertEqual(plain(Event("event", "bob has joined lobby", room="lobby")), "[lobby] -- bob has joined lobby")
        self.assertEqual(plain(Event("error", "no")), "!! no")
        self.assertEqual(plain(Event("chat", "\x1b[31mx", room="r", nick="n")), "[r] <n> \u241b[31mx")

    def test_styled_line_has_colours_and_time(self) -> None:
        ts = int(time.mktime((2026, 1, 2, 13, 45, 0, 0, 0, -1)) * 1000)
        line = ansi(styled(Event("chat", "hello", room="lobby", nick="bob", color="green", ts=ts), show_room=False))
        self.assertTrue(line.startswith("\x1b[2m13:45 \x1b[0m"), line)
        self.assertIn("\x1b[32mhello\x1b[0m", line)
        self.assertIn("bob", line)
        self.assertEqual(nick_color("Bob"), nick_color("bob"))

    def test_the_people_one_talks_with_get_different_colours_and_one_is_set_apart(self) -> None:
        colors = NickColors()
        people = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]
        chosen = [colors(n) for n in people]
        self.assertEqual(len(set(chosen)), len(people))
        self.assertEqual(colors("ALICE"), chosen[0], "a nickname keeps its colour")
        self.assertIn("\x1b[1;38;5;", ansi([Span("x", color="x166", bold=True)]))
        mine = ansi(styled(Event("chat", "hi", nick="alice", mine=True), False, colors))
        self.assertIn("\x1b[1malice\x1b[0m", mine, "no colour of its own")

    def test_a_history_line_is_dimmed_behind_a_bar_without_other_marks(self) -> None:
        """Issue 28: history lines read "| [lobby] (history) <bob> ..." in lobby's own window."""
        ts = int(time.mktime((2026, 12, 7, 9, 5, 0, 0, 0, -1)) * 1000)
        line = styled(Event("chat", "earlier", room="lobby", nick="bob", ts=ts, history=True), show_room=False)
        self.assertEqual(line, [Span("09:05 | <bob> earlier", dim=True)])
        shown_with_room = styled(Event("chat", "waves", room="lobby", nick="bob", ts=ts, history=True, action=True),
                                 show_room=True)
        self.assertEqual(shown_with_room, [Span("09:05 | [lobby] * bob waves", dim=True)], "the status window names it")
        self.assertIn("(history)", plain(Event("chat", "earlier", room="lobby", nick="bob", history=True)),
                      "pipe mode still says it to scripts")

    def test_events_dimmed_errors_red(self) -> None:
        self.assertIn("\x1b[2m-- x", ansi(styled(Event("event", "x"), False)))
        self.assertIn("\x1b[1;31m!! x", ansi(styled(Event("error", "x"), False)))


def test_account_commands_parse_and_keep_passwords_out_of_reprs() -> None:
    from chat.client.commands import Identify, Invalid, Register, SetPassword, holds_secret, parse

    assert parse("/register") == Register()
    assert parse("/register s3cret-pw") == Register("s3cret-pw")
    assert "s3cret" not in repr(parse("/register s3cret-pw"))
    assert parse("/identify bob") == Identify("bob")
    assert parse("/identify bob builder") == Identify("bob", "builder")
    assert parse("/password") == SetPassword()
    assert parse("/password old-one new-one") == SetPassword("old-one", "new-one")
    for bad in ("/register a b", "/identify", "/identify a b c", "/password only-one"):
        assert isinstance(parse(bad), Invalid), bad
    assert holds_secret("/register s3cret-pw") and holds_secret("/identify bob builder")
    assert holds_secret("/password a b")
    assert not holds_secret("/register") and not holds_secret("/identify bob") and not holds_secret("hello")


def test_tab_on_an_empty_line_does_nothing() -> None:
    """Issue 28: it completed the first of every nickname in the room (or listed them all)."""
    assert c.complete("", 0, ["bob", "carol"], ["lobby"]) == ("", 0, [])
    assert c.complete("   ", 2, ["bob"], []) == ("   ", 2, [])
    assert c.complete("b", 1, ["bob"], []) == ("bob: ", 5, [])

"""Registered nicknames through twisted.cred, in the server protocol and end to end."""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

from twisted.cred.checkers import (
    FilePasswordDB,
    InMemoryUsernamePasswordDatabaseDontUse,
)
from twisted.cred import strcred
from twisted.internet import defer
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from chat.accounts import WRONG_PASSWORD_DELAY, Accounts
from chat.limits import Limits
from chat.local import local_chat
from chat.names import ChatError
from chat.server import ChatServerFactory
from tests.processes import TIMEOUT, ServerProcess, WireClient, source_env
from tests.test_e2e_client import CLIENT
from tests.test_server import Client, pack


class AccountsInServerTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        checker = InMemoryUsernamePasswordDatabaseDontUse(Alice=b"wonderland")
        self.accounts = Accounts([checker], self.clock)
        self.factory = ChatServerFactory(local_chat(self.clock, accounts=self.accounts), self.clock,
                                         Limits(flood_rate=0))
        self.port = 1

    def connect(self) -> Client:
        self.port += 1
        return Client(self.factory, self.port)

    def test_the_logon_timeout_starts_again_while_a_person_types_a_password(self) -> None:
        c = self.connect()
        self.clock.advance(20)
        c.send(code=4, text="alice")
        self.assertEqual(c.received()[0]["error"], "password-required")
        self.clock.advance(25)  # 45 s connected, 25 s typing
        self.factory.sweep()
        self.assertFalse(c.transport.disconnecting)
        self.clock.advance(10)
        self.factory.sweep()
        got = c.received()
        self.assertEqual((got[-1]["error"], got[-1]["text"]), ("logon-timeout", "not logged on within 30 seconds"))

    def test_look_alikes_of_a_registered_nickname_need_its_password(self) -> None:
        """Issue 22, hole 4: ALlCE (a small l) and alice with a Thai mark were anyone's."""
        for twin in ("ALlCE", "alice\u0e47", "al\u0131ce\u0307"):
            c = self.connect()
            c.send(code=4, text=twin)
            self.assertEqual(c.received()[0]["error"], "password-required", twin)

    def test_registered_nick_needs_its_password_case_insensitively(self) -> None:
        c = self.connect()
        c.send(code=4, text="alice")
        self.assertEqual(c.received()[0]["error"], "password-required")
        c.send(code=4, text="ALICE", password="wonderland")
        self.assertEqual(c.received(), [{"code": 4, "text": "ALICE", "nick": "ALICE"}])

    def test_wrong_password_is_answered_slowly_and_holds_later_frames(self) -> None:
        c = self.connect()
        c.raw(pack({"code": 4, "text": "alice", "password": "guess"}) + pack({"code": 9, "text": "after"}))
        self.assertEqual(c.received(), [])
        self.clock.advance(WRONG_PASSWORD_DELAY - 0.1)
        self.assertEqual(c.received(), [])
        self.clock.advance(0.1)
        got = c.received()
        self.assertEqual([(m["code"], m.get("error")) for m in got], [(8, "bad-password"), (10, None)])

    def test_password_attempts_on_one_account_are_counted_across_connections(self) -> None:
        """Guessing in parallel, or hanging up before the answer, is no faster."""
        start = self.clock.seconds()
        answers: list[tuple[float, str | None]] = []
        guessers = [self.connect() for _ in range(8)]
        for c in guessers:  # all at once, each on its own connection
            c.send(code=4, text="alice", password="guess")
        guessers[0].transport.loseConnection()  # a guesser that hangs up still used its turn
        guessers[0].drop()
        for _ in range(400):  # bounded: 200 s of clock
            for c in guessers[1:]:
                for m in c.received():
                    answers.append((self.clock.seconds() - start, m.get("error")))
            self.clock.advance(0.5)
        # Five at once (one of them abandoned), then one per 20 s; the others
        # would wait over 20 s, so they are refused at once.
        self.assertEqual(sorted(answers), [
            (0, "try-later"), (0, "try-later"), (2, "bad-password"), (2, "bad-password"),
            (2, "bad-password"), (2, "bad-password"), (22, "bad-password"),
        ])
        # The owner, with the right password, is let in once the allowance refills.
        owner = self.connect()
        owner.send(code=4, text="alice", password="wonderland")
        self.assertEqual(owner.received(), [{"code": 4, "text": "alice", "nick": "alice"}])

    def test_unregistered_nicks_stay_free_unless_required(self) -> None:
        c = self.connect()
        c.send(code=4, text="bob")
        self.assertEqual(c.received()[0]["code"], 4)
        self.accounts.required = True
        d = self.connect()
        d.send(code=4, text="carol")
        self.assertEqual(d.received()[0]["error"], "account-required")

    def test_rename_to_a_registered_nick_needs_the_password(self) -> None:
        c = self.connect()
        c.send(code=4, text="bob")
        c.received()
        c.send(code=4, text="Alice")
        self.assertEqual(c.received()[0]["error"], "password-required")


class FileAccountsTests(SynchronousTestCase):
    def test_file_checker_names_are_listed(self) -> None:
        path = Path(tempfile.mkdtemp()) / "passwords.txt"
        path.write_text("Alice:secret\nbob:pw\n")
        accounts = Accounts([FilePasswordDB(str(path))], MemoryReactorClock())
        self.assertEqual(accounts.file_name("alice"), b"Alice")
        self.assertIsNone(accounts.file_name("carol"))
        path.write_text("Alice:secret\nbob:pw\ncarol:new\n")
        self.assertEqual(accounts.file_name("CAROL"), b"carol", "a changed file is read again")

    def test_a_password_file_that_goes_away_unregisters_nobody(self) -> None:
        """It fails closed: the last good copy still says who is registered, and passwords wait."""
        path = Path(tempfile.mkdtemp()) / "passwords.txt"
        path.write_text("alice:secret\n")
        clock = MemoryReactorClock()
        accounts = Accounts([FilePasswordDB(str(path))], clock)
        self.successResultOf(defer.ensureDeferred(accounts.check("alice", "secret")))
        path.rename(path.with_name("moved.txt"))
        for password in (None, "secret"):
            d = defer.ensureDeferred(accounts.check("alice", password))
            clock.advance(WRONG_PASSWORD_DELAY)
            self.assertEqual(self.failureResultOf(d, ChatError).value.slug,
                             "password-required" if password is None else "accounts-unavailable")
        self.successResultOf(defer.ensureDeferred(accounts.check("bob", None)))
        self.assertEqual(len(self.flushLoggedErrors()), 0)
        path.with_name("moved.txt").rename(path)
        self.successResultOf(defer.ensureDeferred(accounts.check("alice", "secret")))

    def test_a_look_alike_of_a_registered_nickname_needs_its_password(self) -> None:
        accounts = Accounts([InMemoryUsernamePasswordDatabaseDontUse(alice=b"secret", NICK=b"x")], MemoryReactorClock())
        for twin in ("\u0430lice", "n\u0456ck"):  # a Cyrillic а; a Cyrillic і, like NICK folded
            d = defer.ensureDeferred(accounts.check(twin, None))
            self.assertEqual(self.failureResultOf(d, ChatError).value.slug, "password-required")

    def test_twistds_memory_checker_which_keeps_text_works_too(self) -> None:
        accounts = Accounts([strcred.makeChecker("memory:Alice:secret")], MemoryReactorClock())
        self.successResultOf(defer.ensureDeferred(accounts.check("alice", "secret")))

    def test_a_password_file_unreadable_from_the_start_guards_every_nickname(self) -> None:

        path = Path(tempfile.mkdtemp()) / "missing.txt"
        accounts = Accounts([FilePasswordDB(str(path))], MemoryReactorClock())
        d = defer.ensureDeferred(accounts.check("anyone", None))
        self.assertEqual(self.failureResultOf(d, ChatError).value.slug, "password-required")


def test_auth_file_end_to_end_and_no_password_in_the_log(tmp_path: Path) -> None:
    (tmp_path / "passwords.txt").write_text("alice:s3cret-pass\n")
    server = ServerProcess(tmp_path, ["--endpoint", "tcp:0:interface=127.0.0.1",
                                      "--auth", f"file:{tmp_path / 'passwords.txt'}"])
    try:
        endpoint = f"tcp:host=127.0.0.1:port={server.port}"
        wrong = subprocess.run(CLIENT + ["--endpoint", endpoint, "--nick", "alice"], input=b"hi\n",
                               capture_output=True, timeout=TIMEOUT, env=source_env(CHAT_PASSWORD="nope"))
        assert wrong.returncode == 2
        assert b"wrong password" in wrong.stdout
        good = subprocess.run(CLIENT + ["--endpoint", endpoint, "--nick", "alice"], input=b"hi\n",
                              capture_output=True, timeout=TIMEOUT, env=source_env(CHAT_PASSWORD="s3cret-pass"))
        assert good.returncode == 0, good
        assert b"[lobby] <alice> hi" in good.stdout
        WireClient(server.host, server.port).logon("bob")  # unregistered: free
        server.stop()
        assert b"s3cret-pass" not in server.output and b"nope" not in server.output
    finally:
        server.kill()


def test_terminal_asks_for_the_password_without_echoing_it(tmp_path: Path) -> None:
    from tests.terminal import PtyProgram

    (tmp_path / "passwords.txt").write_text("alice:s3cret-pass\n")
    server = ServerProcess(tmp_path, ["--endpoint", "tcp:0:interface=127.0.0.1",
                                      "--auth", f"file:{tmp_path / 'passwords.txt'}"])
    me = PtyProgram(CLIENT + ["--endpoint", f"tcp:host=127.0.0.1:port={server.port}", "--nick", "alice"])
    try:
        me.wait_for("Password:")
        me.type("s3cret-pass")
        me.wait_for("Password: ***********")
        assert "s3cret" not in me.text()
        me.type("\r")
        me.wait_for("alice has joined lobby")
        me.type("\x1b[A")  # the password is not in the input history
        time.sleep(0.3)
        assert "s3cret" not in me.text()
        me.type("\x03")
        assert me.wait_exit() == 0
    finally:
        me.close()
        server.kill()


class RegistrationInServerTests(SynchronousTestCase):
    """Codes 15, 16 and 17 (docs/protocol.md), over StringTransport."""

    def setUp(self) -> None:
        from tests.test_passwords import CHEAP
        from tests.test_registration import in_thread_now

        self.clock = MemoryReactorClock()
        chat = local_chat(self.clock)
        self.accounts = Accounts([], self.clock, store=lambda: chat.ledger.account_store,  # type: ignore[attr-defined]
                                 in_thread=in_thread_now, cost=CHEAP)
        chat.accounts = self.accounts
        self.factory = ChatServerFactory(chat, self.clock, Limits(flood_rate=0))
        self.port = 1

    def connect(self, nick: str | None = None, password: str | None = None) -> Client:
        self.port += 1
        c = Client(self.factory, self.port)
        if nick is not None:
            c.send(code=4, text=nick, **({"password": password} if password else {}))
            self.assertEqual(c.received()[-1], {"code": 4, "text": nick, "nick": nick})
        return c

    def test_info_says_registration_is_open(self) -> None:
        c = self.connect()
        c.send(code=14)
        self.assertIn("REGISTER", c.received()[0]["text"].split())
        self.accounts.registration = False
        c.send(code=14)
        self.assertNotIn("REGISTER", c.received()[0]["text"].split())

    def test_register_then_log_on_with_the_password_only(self) -> None:
        alice = self.connect("alice")
        alice.send(code=15, password="wonderland")
        self.assertEqual(alice.received(), [{"code": 15, "text": "alice"}])
        alice.drop()
        stranger = self.connect()
        stranger.send(code=4, text="alice")
        self.assertEqual(stranger.received()[0]["error"], "password-required")
        self.connect("alice", "wonderland")

    def test_a_wrong_password_is_answered_after_the_delay(self) -> None:
        self.connect("alice").send(code=15, password="wonderland")
        c = self.connect()
        c.send(code=4, text="alice", password="not-the-one")
        self.assertEqual(c.received(), [], "nothing before the delay")
        self.clock.advance(WRONG_PASSWORD_DELAY)
        self.assertEqual(c.received()[0]["error"], "bad-password")

    def test_register_refusals_are_errors_that_say_why(self) -> None:
        c = self.connect()
        c.send(code=15, password="wonderland")
        self.assertEqual(c.received()[0]["error"], "not-logged-on")
        c = self.connect("bob")
        c.send(code=15)
        got = c.received()[0]
        self.assertEqual((got["error"], got["reply_to"]), ("bad-request", 15))
        c.send(code=15, password="short")
        got = c.received()[0]
        self.assertEqual((got["error"], got["reply_to"]), ("weak-password", 15))
        self.assertIn("at least 8", got["text"])

    def test_change_the_password_then_drop_the_account(self) -> None:
        alice = self.connect("alice")
        alice.send(code=16, password="x", new_password="looking-glass")
        self.assertEqual(alice.received()[0]["error"], "not-registered")
        alice.send(code=15, password="wonderland")
        alice.received()
        alice.send(code=16, password="wonderland", new_password="looking-glass")
        self.assertEqual(alice.received(), [{"code": 16}])
        alice.send(code=17, password="looking-glass")
        self.assertEqual(alice.received(), [{"code": 17, "text": "alice"}])
        alice.drop()
        self.connect("alice")  # anyone's again

    def test_passwords_never_reach_the_log(self) -> None:
        from twisted.logger import globalLogPublisher

        seen: list[str] = []
        observer = lambda event: seen.append(repr(event))  # noqa: E731
        globalLogPublisher.addObserver(observer)
        try:
            alice = self.connect("alice")
            alice.send(code=15, password="wonderland-secret")
            alice.send(code=16, password="wonderland-secret", new_password="glass-secret")
            alice.send(code=16, password="bad-secret-guess", new_password="other-secret")
            self.clock.advance(WRONG_PASSWORD_DELAY)
        finally:
            globalLogPublisher.removeObserver(observer)
        self.assertTrue(any("registered" in s for s in seen))
        for secret in ("wonderland-secret", "glass-secret", "bad-secret-guess", "other-secret"):
            self.assertFalse(any(secret in s for s in seen), secret)

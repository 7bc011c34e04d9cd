"""Accounts on IRC over StringTransport: REGISTER (IRCv3), SASL PLAIN, NickServ, WHOIS 330."""

from __future__ import annotations

import base64

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from chat.accounts import WRONG_PASSWORD_DELAY, Accounts
from chat.irc import IRCFactory
from chat.limits import Limits
from chat.local import local_chat
from tests.test_irc import IRCClient
from tests.test_passwords import CHEAP
from tests.test_registration import in_thread_now

OFFERED = ("server-time message-tags echo-message batch draft/chathistory away-notify sasl=PLAIN extended-join "
           "account-notify account-tag draft/account-registration")


def plain(account: str, password: str) -> str:
    return base64.b64encode(f"\0{account}\0{password}".encode()).decode()


class IRCAccountTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.clock.advance(1_700_000_000)
        chat = local_chat(self.clock)
        self.accounts = chat.accounts = Accounts([], self.clock, store=lambda: chat.ledger.account_store,  # type: ignore[attr-defined]
                                                 in_thread=in_thread_now, cost=CHEAP)
        self.irc = IRCFactory(chat, self.clock, Limits(flood_rate=0), server_name="irc.test")
        self.port = 50000

    def connect(self) -> IRCClient:
        self.port += 1
        return IRCClient(self.irc, self.port)

    def registered(self, nick: str, *before_end: str) -> IRCClient:
        c = self.connect()
        c.send("CAP LS 302")
        self.assertEqual(c.received(), [f":irc.test CAP * LS :{OFFERED}"])
        c.send(*before_end, f"NICK {nick}", f"USER {nick} 0 * :x", "CAP END")
        self.clock.advance(0)
        return c

    def test_register_then_sasl_plain_on_the_next_connection(self) -> None:
        """The issue's first 'done when', over StringTransport (end to end: tests/test_e2e_accounts.py)."""
        c = self.registered("alice")
        self.assertIn(" 001 alice ", c.received()[0])
        c.send("REGISTER * * wonderland")
        self.assertEqual(c.received(), [":irc.test REGISTER SUCCESS alice :Account alice registered",
                                        ":irc.test 900 alice alice!alice@chat alice :You are now logged in as alice"])
        c.send("QUIT :bye")
        c.received()
        c.proto.connectionLost(None)  # type: ignore[arg-type]

        again = self.connect()
        again.send("CAP LS 302", "CAP REQ :sasl", "AUTHENTICATE PLAIN")
        again.received()
        again.send("AUTHENTICATE " + plain("alice", "wonderland"))
        self.assertEqual(again.received(), [
            ":irc.test 900 * alice!alice@chat alice :You are now logged in as alice",
            ":irc.test 903 * :SASL authentication successful"])
        again.send("NICK alice", "USER alice 0 * :x", "CAP END")
        self.assertIn(" 001 alice ", again.received()[0])
        again.send("WHOIS alice")
        got = again.received()
        self.assertIn(":irc.test 330 alice alice alice :is logged in as", got)
        self.assertEqual(got[-1], ":irc.test 318 alice alice :End of /WHOIS list")

    def test_a_wrong_sasl_password_is_904_and_the_nickname_stays_refused(self) -> None:
        self.registered("alice").send("REGISTER alice * wonderland")
        c = self.connect()
        c.send("CAP LS 302", "CAP REQ :sasl", "AUTHENTICATE PLAIN")
        c.received()
        c.send("AUTHENTICATE " + plain("alice", "not-it-at-all"))
        self.clock.advance(WRONG_PASSWORD_DELAY)
        self.assertEqual(c.received(), [":irc.test 904 * :SASL authentication failed"])
        c.send("NICK alice", "USER alice 0 * :x", "CAP END")
        self.clock.advance(0)
        self.assertTrue(c.received()[0].startswith(":irc.test 464 * :the nickname alice is registered"))

    def test_register_refusals_are_standard_replies(self) -> None:
        c = self.connect()
        c.send("REGISTER * * wonderland")
        self.assertEqual(c.received(), [":irc.test FAIL REGISTER COMPLETE_CONNECTION_REQUIRED "
                                        ":Register once you are connected"])
        c = self.registered("bob")
        c.received()
        c.send("REGISTER carol * wonderland")
        self.assertEqual(c.received(), [":irc.test FAIL REGISTER ACCOUNT_NAME_MUST_BE_NICK carol "
                                        ":An account is named for your nickname: change nickname first"])
        c.send("REGISTER * * short")
        self.assertEqual(c.received(), [":irc.test FAIL REGISTER WEAK_PASSWORD bob "
                                        ":a password needs at least 8 characters"])
        c.send("REGISTER BOB * good-password")
        self.assertEqual(c.received()[0], ":irc.test REGISTER SUCCESS bob :Account bob registered")
        c.send("REGISTER * * good-password")
        self.assertEqual(c.received(), [":irc.test FAIL REGISTER ALREADY_AUTHENTICATED bob "
                                        ":You are logged in to an account already"])
        c.send("REGISTER *")
        self.assertEqual(c.received(), [":irc.test 461 bob REGISTER :Not enough parameters"])

    def test_nickserv_register_identify_passwd_drop(self) -> None:
        c = self.registered("alice")
        c.received()
        c.send("PRIVMSG NickServ :REGISTER wonderland")
        self.assertEqual(c.received(), [
            ":irc.test 900 alice alice!alice@chat alice :You are now logged in as alice",
            ":NickServ!NickServ@irc.test NOTICE alice :Account alice registered; you are logged in to it"])
        c.send("NS PASSWD wonderland looking-glass")
        self.assertEqual(c.received(), [":NickServ!NickServ@irc.test NOTICE alice :Password changed"])
        c.send("NICK alice_")
        self.assertEqual(c.received(), [":alice!alice@chat NICK :alice_"])
        other = self.registered("guest")
        other.received()
        other.send("NICKSERV IDENTIFY alice wonderland")
        self.clock.advance(WRONG_PASSWORD_DELAY)
        self.assertEqual(other.received(), [":NickServ!NickServ@irc.test NOTICE guest :wrong password for alice"])
        other.send("PRIVMSG nickserv :identify alice looking-glass")
        self.assertEqual(other.received(), [
            ":guest!guest@chat NICK :alice",
            ":irc.test 900 alice alice!alice@chat alice :You are now logged in as alice",
            ":NickServ!NickServ@irc.test NOTICE alice :You are now logged in as alice"])
        c.send("NS DROP looking-glass")
        self.assertEqual(c.received(), [
            ":NickServ!NickServ@irc.test NOTICE alice_ :Account dropped; its nickname is anyone's again"])
        c.send("NS HELP")
        self.assertEqual(len(c.received()), 6)
        c.send("NS IDENTIFY not-a-password")  # alice_ is nobody's account: nothing is said to have worked
        self.assertEqual(c.received(), [":NickServ!NickServ@irc.test NOTICE alice_ :alice_ has no account: "
                                        "REGISTER it, or IDENTIFY <account> <password>"])

    def test_nobody_may_take_the_nickname_nickserv(self) -> None:
        c = self.registered("NickServ")
        self.assertTrue(c.received()[0].startswith(":irc.test 432 * NickServ :NickServ is the server's"))

    def test_without_open_registration_no_capability_and_register_fails(self) -> None:
        self.accounts.registration = False
        c = self.connect()
        c.send("CAP LS 302")
        self.assertEqual(c.received(), [":irc.test CAP * LS :server-time message-tags echo-message batch "
                                        "draft/chathistory away-notify sasl=PLAIN extended-join account-notify "
                                        "account-tag"])
        c.send("NICK bob", "USER bob 0 * :x", "CAP END")
        c.received()
        c.send("REGISTER * * good-password")
        self.assertEqual(c.received(), [":irc.test FAIL REGISTER TEMPORARILY_UNAVAILABLE bob "
                                        ":registration is closed on this server; ask its operator"])

    def test_an_operator_account_is_told_and_shown(self) -> None:
        """--oper: the rights come with moderation (issue 25); here, that the server knows its operators."""
        self.accounts.opers = frozenset({"alice"})
        self.registered("alice").send("REGISTER * * wonderland", "QUIT")
        c = self.connect()
        c.send("CAP LS 302", "CAP REQ :sasl", "AUTHENTICATE PLAIN", "AUTHENTICATE " + plain("alice", "wonderland"),
               "NICK alice", "USER alice 0 * :x", "CAP END")
        got = c.received()
        self.assertIn(":irc.test 381 alice :You are now a server operator", got)
        bob = self.registered("bob")
        bob.received()
        bob.send("WHOIS alice")
        got = bob.received()
        self.assertIn(":irc.test 313 bob alice :is a server operator", got)
        self.assertIn(":irc.test 330 bob alice alice :is logged in as", got)
        bob.send("WHOIS bob")
        self.assertFalse(any(" 313 " in line or " 330 " in line for line in bob.received()))

    def test_extended_join_names_the_joiners_account(self) -> None:
        watcher = self.connect()
        watcher.send("CAP LS 302", "CAP REQ :extended-join server-time", "NICK watcher", "USER w 0 * :x", "CAP END",
                     "JOIN #lobby")
        watcher.received()
        alice = self.registered("alice")
        alice.send("REGISTER * * wonderland", "JOIN #lobby", "PART #lobby")
        guest = self.registered("guest")
        guest.send("JOIN #lobby")
        alice.send("JOIN #lobby")
        joins = [line.split(" ", 1)[1] if line.startswith("@") else line
                 for line in watcher.received() if " JOIN " in line]
        self.assertEqual(joins, [":alice!alice@chat JOIN #lobby alice :x", ":guest!guest@chat JOIN #lobby * :x",
                                 ":alice!alice@chat JOIN #lobby alice :x"], "the account, and USER's real name")
        self.assertIn(":alice!alice@chat JOIN #lobby", guest.received(), "a client without the capability: plain JOIN")

    def test_account_notify_and_account_tag(self) -> None:
        watcher = self.connect()
        watcher.send("CAP LS 302", "CAP REQ :account-notify account-tag", "NICK watcher", "USER w 0 * :x", "CAP END",
                     "JOIN #lobby")
        plain_client = self.registered("plain")
        plain_client.send("JOIN #lobby")
        alice = self.registered("alice")
        alice.send("JOIN #lobby")
        watcher.received()
        plain_client.received()
        alice.send("PRIVMSG #lobby :before", "REGISTER * * wonderland", "PRIVMSG #lobby :after")
        self.assertEqual([line for line in watcher.received() if "alice" in line], [
            ":alice!alice@chat PRIVMSG #lobby :before",
            ":alice!alice@chat ACCOUNT alice",
            "@account=alice :alice!alice@chat PRIVMSG #lobby :after"])
        self.assertEqual(plain_client.received(), [":alice!alice@chat PRIVMSG #lobby :before",
                                                   ":alice!alice@chat PRIVMSG #lobby :after"])
        alice.send("NICK alice_away", "NICK ALICE")  # an account stays with its user; its own nickname needs no password
        self.assertEqual(watcher.received(), [":alice!alice@chat NICK :alice_away",
                                              ":alice_away!alice_away@chat NICK :ALICE"])
        alice.send("NS DROP wonderland")
        self.assertEqual(watcher.received(), [":ALICE!ALICE@chat ACCOUNT *"])
        self.assertEqual(plain_client.received()[-1], ":alice_away!alice_away@chat NICK :ALICE")

    def test_a_sasl_piece_too_long_is_905_and_too_many_pieces_904(self) -> None:
        """IRCv3 sasl-3.1, as irctest checks it."""
        c = self.connect()
        c.send("CAP LS 302", "CAP REQ :sasl", "AUTHENTICATE PLAIN")
        c.received()
        c.send("AUTHENTICATE " + "A" * 401)
        self.assertEqual(c.received(), [":irc.test 905 * :SASL message too long"])
        c.send("AUTHENTICATE PLAIN")
        c.received()
        c.send(*["AUTHENTICATE " + "A" * 400] * 5)
        self.assertEqual(c.received()[-1], ":irc.test 904 * :SASL authentication failed")

    def test_away_notify(self) -> None:
        """IRCv3 away-notify: the others in a shared channel are told, once; the user gets 306/305."""
        watcher = self.connect()
        watcher.send("CAP LS 302", "CAP REQ :away-notify", "NICK watcher", "USER w 0 * :x", "CAP END",
                     "JOIN #lobby,#dev")
        plain_client = self.registered("plain")
        plain_client.send("JOIN #lobby")
        bob = self.registered("bob")
        bob.send("JOIN #lobby,#dev")
        watcher.received()
        plain_client.received()
        bob.received()
        bob.send("AWAY :at lunch")
        self.assertEqual(bob.received(), [":irc.test 306 bob :You have been marked as being away"])
        self.assertEqual(watcher.received(), [":bob!bob@chat AWAY :at lunch"], "once, though both channels are told")
        bob.send("AWAY")
        self.assertEqual(watcher.received(), [":bob!bob@chat AWAY"])
        self.assertEqual(plain_client.received(), [], "without the capability: nothing")
        carol = self.registered("carol")
        carol.send("AWAY :on holiday", "JOIN #dev")
        self.assertEqual(watcher.received(), [":carol!carol@chat JOIN #dev", ":carol!carol@chat AWAY :on holiday"])
        self.assertFalse(any(" AWAY " in line for line in carol.received()), "not its own")

"""
The chat page in a real headless browser (Debian's chromium, driven by
Selenium) against a real `twistd chat --web-endpoint ...`, beside the
terminal client and native clients.  Screenshots go to the test's
directory, and to $CHAT_SCREENSHOT_DIR when it is set (README's come from
there).
"""

from __future__ import annotations

import os
import re
import shutil
import time
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.select import Select

from tests.browser import Browser
from tests.processes import ServerProcess, WireClient
from tests.redis_server import RedisProcess
from tests.terminal import PtyProgram
from tests.test_e2e_cluster import node
from tests.test_e2e_tls import write_cert

WEB_LISTENING = re.compile(rb"web front end listening on ([\d.]+):(\d+)")
#: Messages said while a page is away: more than a join replays and than one catch-up page holds.
MISSED = 600
HOSTILE = ['<script>window.pwned = 1</script>', '<img src=x onerror="window.pwned = 2">']


@pytest.fixture
def people() -> Iterator[list[Browser | PtyProgram]]:
    """Browsers and terminals opened by a test, all closed after it."""
    opened: list[Browser | PtyProgram] = []
    yield opened
    for one in opened:
        one.close()


def web_server(cwd: Path, web_port: int = 0, *args: str) -> tuple[ServerProcess, str]:
    process = ServerProcess(cwd, ["--endpoint", "tcp:0:interface=127.0.0.1",
                                  "--web-endpoint", f"tcp:{web_port}:interface=127.0.0.1", *args])
    match = process.wait_for_output(WEB_LISTENING)
    return process, f"http://127.0.0.1:{int(match.group(2))}/"


def browser(people: list[Browser | PtyProgram], url: str, nick: str, **options: Any) -> Browser:
    """A person opens the link and logs on with the keyboard alone."""
    page = Browser(url, **options)
    people.append(page)
    page.wait(lambda: page.find("#nick").is_displayed(), "the logon form")
    # Issue 28: the Password field showed on a server without accounts (a CSS rule overrode `hidden`).
    assert not page.find("#password").is_displayed(), "no password field before the server asks for one"
    page.find("#nick").send_keys(nick, Keys.ENTER)
    page.wait_for_text(f"{nick} has joined lobby")
    return page


def save(page: Browser, tmp_path: Path, name: str) -> Path:
    shot = tmp_path / name
    page.screenshot(shot)
    assert shot.stat().st_size > 10_000, "the screenshot is empty"
    if os.environ.get("CHAT_SCREENSHOT_DIR"):
        shutil.copy(shot, Path(os.environ["CHAT_SCREENSHOT_DIR"]) / name)
    return shot


def say(page: Browser, text: str) -> None:
    page.find("#say").send_keys(text, Keys.ENTER)


def test_two_browsers_and_a_terminal_chat_in_one_room(tmp_path: Path, people: list[Browser | PtyProgram]) -> None:
    server, url = web_server(tmp_path)
    alice = browser(people, url, "alice")
    bob = browser(people, url, "bob")
    carol = PtyProgram([sys.executable, "-m", "chat.client", "--endpoint",
                        f"tcp:host=127.0.0.1:port={server.port}", "--nick", "carol"])
    people.append(carol)
    carol.wait_for("carol has joined lobby")
    alice.wait(lambda: [m.text for m in alice.all("#member-list .member")] == ["alice", "bob", "carol"],
               "the member list")

    Select(alice.find("#color")).select_by_value("blue")  # coloured text, as the seed lacked
    say(alice, "hello from a browser")
    bob.wait_for_text("hello from a browser")
    assert bob.run("return [...document.querySelectorAll('#log .text')]"
                   ".find(e => e.textContent === 'hello from a browser').className") == "text c-blue"
    carol.wait_for("hello from a browser")
    carol.type("hi from the terminal\r")
    alice.wait_for_text("hi from the terminal")
    bob.wait_for_text("hi from the terminal")
    say(alice, "/me waves")
    bob.wait_for_text("* alice waves")
    carol.wait_for("alice waves")

    # Hostile text is shown as text and runs nothing, in every window that shows it.
    for text in HOSTILE:
        say(bob, text)
    for page in (alice, bob):
        page.wait_for_text(HOSTILE[1])
        assert HOSTILE[0] in page.log_text()
        assert page.run("return window.pwned === undefined")
        assert page.all("#log img") == [] and len(page.all("#log script")) == 0
    carol.wait_for("onerror")

    # A private message opens a window for it, marked unread on the other side.
    say(alice, "/msg bob see you at noon")
    bob.wait(lambda: any("@alice" in w.text and "1" in w.text for w in bob.all(".window")), "bob's @alice window")
    ActionChains(bob.driver).key_down(Keys.ALT).send_keys("2").key_up(Keys.ALT).perform()
    bob.wait_for_text("see you at noon")
    ActionChains(alice.driver).key_down(Keys.ALT).send_keys("1").key_up(Keys.ALT).perform()
    alice.wait(lambda: alice.find(".window.current").text.endswith("lobby"), "alice back in lobby")
    save(alice, tmp_path, "web-client.png")

    # A phone-width screen: one column, the rooms and members behind buttons.
    alice.driver.set_window_size(390, 780)
    alice.wait(lambda: not alice.find("#windows").is_displayed() and alice.find("#show-windows").is_displayed(),
               "the narrow layout")
    save(alice, tmp_path, "web-client-phone.png")
    alice.find("#show-windows").click()
    alice.wait(lambda: alice.find("#windows").is_displayed(), "the rooms over the chat")
    assert alice.console() == [], alice.console()  # no script errors, no refused loads
    server.stop()


def test_the_page_reconnects_after_a_restart_and_shows_what_was_missed(
        tmp_path: Path, people: list[Browser | PtyProgram]) -> None:
    server, url = web_server(tmp_path)
    bob = WireClient(server.host, server.port).logon("bob")
    for i in range(1, 71):
        bob.send(code=5, room="lobby", text=f"line {i}")
    bob.recv_until(lambda m: m.get("text") == "line 70")
    alice = browser(people, url, "alice")
    alice.wait_for_text("line 70")
    assert "line 20\n" not in alice.log_text() + "\n" and "line 21" in alice.log_text()  # the replay: 50

    # Scrolling to the top fetches older pages, to the room's first message.
    alice.run("const log = document.getElementById('log'); log.scrollTop = 0;"
              "log.dispatchEvent(new Event('scroll'));")
    alice.wait_for_text("line 1\n")
    alice.wait_for_text("the beginning of lobby")

    # The server goes; while the page is away, a server on the same data says more.
    server.stop()
    alice.wait(lambda: alice.find("#banner").is_displayed(), "the connection-lost banner")
    assert "The server is shutting down." in alice.log_text()
    meanwhile = ServerProcess(tmp_path, ["--endpoint", "tcp:0:interface=127.0.0.1", "--flood-rate", "0"])
    bob = WireClient(meanwhile.host, meanwhile.port).logon("bob")
    for i in range(1, MISSED + 1):  # far more than a join replays (50) or a page holds (200): several pages
        bob.send(code=5, room="lobby", text=f"said while you were away {i}")
    bob.recv_until(lambda m: m.get("text") == f"said while you were away {MISSED}")
    meanwhile.stop()

    # The page comes back to the server on its own, and catches up.
    server, _ = web_server(tmp_path, int(url.rsplit(":", 1)[1].strip("/")))
    alice.wait_for_text(f"said while you were away {MISSED}", timeout=30)
    alice.wait_for_text("caught up")
    alice.wait(lambda: not alice.find("#banner").is_displayed(), "the banner gone")
    text = alice.log_text()
    order = [text.find(f"said while you were away {i}\n") for i in range(1, MISSED + 1)]
    assert -1 not in order, f"{order.count(-1)} missed messages not shown"
    assert text.index("line 70") < order[0] and order == sorted(order)
    assert text.count("line 70") == 1 and text.count(f"said while you were away {MISSED}\n") == 1  # no line twice
    assert alice.find("#status").text == "connected"
    say(alice, "back again")
    carol = WireClient(server.host, server.port).logon("carol")
    alice.wait_for_text("carol has joined lobby")
    save(alice, tmp_path, "web-client-reconnected.png")
    carol.close()
    server.stop()


def test_a_registered_nickname_asks_for_its_password(tmp_path: Path, people: list[Browser | PtyProgram]) -> None:
    server, url = web_server(tmp_path, 0, "--auth", "memory:dana:secret")
    page = Browser(url)
    people.append(page)
    page.find("#nick").send_keys("dana", Keys.ENTER)
    page.wait(lambda: page.find("#password").is_displayed(), "the password field")
    assert "password" in page.find("#logon-error").text.lower()
    page.find("#password").send_keys("wrong", Keys.ENTER)
    page.wait(lambda: "password" in page.find("#logon-error").text.lower() and page.find("#enter").is_enabled(),
              "the refusal")
    page.find("#password").clear()
    page.find("#password").send_keys("secret", Keys.ENTER)
    page.wait_for_text("dana has joined lobby")
    server.stop()


def test_the_page_over_https_and_wss(tmp_path: Path, people: list[Browser | PtyProgram]) -> None:
    cert, key = write_cert(tmp_path, "localhost")
    server = ServerProcess(tmp_path, ["--endpoint", "tcp:0:interface=127.0.0.1", "--web-endpoint",
                                      f"ssl:0:interface=127.0.0.1:privateKey={key}:certKey={cert}"])
    port = int(server.wait_for_output(WEB_LISTENING).group(2))
    page = browser(people, f"https://127.0.0.1:{port}/", "tess", trust_any_certificate=True)
    bob = WireClient(server.host, server.port).logon("bob")
    say(page, "over wss")
    assert bob.recv_until(lambda m: m.get("code") == 5)[-1]["text"] == "over wss"
    assert page.run("return location.protocol") == "https:"
    server.stop()


def test_a_browser_on_one_cluster_node_and_a_native_client_on_another(
        tmp_path: Path, people: list[Browser | PtyProgram]) -> None:
    redis = RedisProcess(tmp_path / "redis")
    try:
        one = node(tmp_path, redis, "--web-endpoint", "tcp:0:interface=127.0.0.1")
        two = node(tmp_path, redis)
        url = f"http://127.0.0.1:{int(one.wait_for_output(WEB_LISTENING).group(2))}/"
        page = browser(people, url, "webby")
        bob = WireClient(two.host, two.port).logon("bob")
        page.wait_for_text("bob has joined lobby")
        say(page, "hello node two")
        assert bob.recv_until(lambda m: m.get("code") == 5)[-1]["text"] == "hello node two"
        bob.send(code=5, room="lobby", text="hello node one")
        page.wait_for_text("hello node one")
        bob.send(code=6, to="webby", text="a private word")
        page.wait(lambda: any("@bob" in w.text for w in page.all(".window")), "the @bob window")
    finally:
        redis.kill()


def test_the_page_answers_the_servers_keepalive(tmp_path: Path, people: list[Browser | PtyProgram]) -> None:
    """A page left open in a quiet room is PINGed by the server and stays (it answers PONG)."""
    server, url = web_server(tmp_path, 0, "--idle-timeout", "1", "--ping-timeout", "1")
    page = browser(people, url, "quiet")
    bob = WireClient(server.host, server.port).logon("bob")
    for _ in range(8):  # several PINGs, each to be answered within a second
        bob.send(code=9, text="bob is here too")
        bob.recv_until(lambda m: m.get("code") == 10)
        time.sleep(0.5)
    assert page.find("#status").text == "connected" and not page.find("#banner").is_displayed()
    assert b"quiet disconnected" not in server.output, server.output.decode(errors="replace")[-2000:]
    say(page, "still here")
    assert bob.recv_until(lambda m: m.get("code") == 5)[-1]["text"] == "still here"
    server.stop()


def test_an_account_made_on_the_page_signs_in_on_another_and_changes_its_password(
        tmp_path: Path, people: list[Browser | PtyProgram]) -> None:
    """Issue 24: a sign-up / sign-in choice on the logon form; the password changed from the page."""
    server, url = web_server(tmp_path, 0)
    first = Browser(url)
    people.append(first)
    first.find("#nick").send_keys("erin")
    first.find('input[name="mode"][value="signup"]').click()
    first.wait(lambda: first.find("#password").is_displayed(), "the password field")
    first.find("#password").send_keys("erin-secret-1", Keys.ENTER)
    first.wait_for_text("erin has joined lobby")
    first.wait_for_text("erin is your account")

    second = Browser(url)
    people.append(second)
    second.find("#nick").send_keys("erin", Keys.ENTER)  # as a guest: the nickname is now an account's
    second.wait(lambda: "registered" in second.find("#logon-error").text, "the refusal")
    second.wait(lambda: second.find("#password").is_displayed(), "the password field")

    first.find("#show-account").click()
    first.find("#current-password").send_keys("erin-secret-1")
    first.find("#new-password").send_keys("erin-secret-2", Keys.ENTER)
    first.wait_for_text("Your password is changed.")
    first.close()
    people.remove(first)

    second.find('input[name="mode"][value="signin"]').click()
    second.find("#password").send_keys("erin-secret-1", Keys.ENTER)  # the old one
    second.wait(lambda: "wrong password" in second.find("#logon-error").text, "the refusal of the old password")
    second.find("#password").clear()
    second.find("#password").send_keys("erin-secret-2", Keys.ENTER)
    second.wait_for_text("erin has joined lobby")
    assert "erin-secret" not in server.output.decode(errors="replace")
    server.stop()


def test_what_a_newcomer_missed_on_the_page(tmp_path: Path, people: list[Browser | PtyProgram]) -> None:
    """
    Issue 28's page defects, each seen in Chromium: mentions highlighted,
    safe links, a rename told once, older pages above the join line, the
    phone's menu badge and topic, the tab's icon, a timestamp that never
    wraps, and the words of a failed reconnection.
    """
    server, url = web_server(tmp_path, 0, "--history-replay", "3")
    early = WireClient(server.host, server.port).logon("early")
    for n in range(8):
        early.send(code=5, text=f"earlier line {n}")
    early.recv_until(lambda m: m.get("text") == "earlier line 7")
    early.send(code=12, room="lobby", text="friday plans")
    alice = browser(people, url, "alice")
    alice.wait_for_text("earlier line 7")

    # The join's replay (3 lines) is under the join line; an older page goes above it.
    alice.run("document.getElementById('log').scrollTop = 0; document.getElementById('log')"
              ".dispatchEvent(new Event('scroll'))")
    alice.wait_for_text("earlier line 0")
    texts = alice.run("return [...document.querySelectorAll('.pane:not([hidden]) .line')].map(l => l.textContent)")
    joined = next(i for i, t in enumerate(texts) if "alice has joined lobby" in t)
    assert all(i > joined for i, t in enumerate(texts) if "earlier line 5" in t or "earlier line 7" in t)
    assert all(i < joined for i, t in enumerate(texts) if any(f"earlier line {n}" in t for n in range(5))), texts

    # A line that names me is highlighted; one that only contains my name is not.
    early.send(code=5, text="alice: lunch? see https://example.org/menu?day=fri. or javascript:alert(1)")
    early.send(code=5, text="malice aforethought")
    alice.wait_for_text("malice aforethought")
    marked = alice.run("return [...document.querySelectorAll('.line.mention')].map(l => l.textContent)")
    assert len(marked) == 1 and "lunch?" in marked[0]
    links = alice.run("return [...document.querySelectorAll('#log a')].map(a => [a.href, a.rel, a.target])")
    assert links == [["https://example.org/menu?day=fri", "noopener noreferrer", "_blank"]]

    # My own rename: the room says it, once.
    say(alice, "/nick alicia")
    alice.wait_for_text("alice is now known as alicia")
    time.sleep(0.3)
    assert alice.log_text().count("alicia") == 1, alice.log_text()

    # The timestamp never wraps, however long the word beside it.
    assert alice.run("return getComputedStyle(document.querySelector('.line .when')).whiteSpace") == "nowrap"

    # A phone: the topic stays in view, and the menu button shows what waits unread.
    alice.driver.set_window_size(390, 780)
    alice.wait(lambda: alice.find("#show-windows").is_displayed(), "the narrow layout")
    assert alice.find("#topic").is_displayed() and alice.find("#topic").text == "friday plans"
    early.send(code=6, to="alicia", text="psst, private")
    alice.wait(lambda: alice.find("#show-windows").get_attribute("data-unread") == "1", "the badge")
    assert "mentioned" in alice.find("#show-windows").get_attribute("class")
    assert alice.run("return document.querySelector('link[rel=icon]').href").endswith("favicon-unread.svg")
    assert alice.run("return document.title").startswith("(1) ")
    save(alice, tmp_path, "web-client-phone-unread.png")

    # The server goes away: the status says the connection was lost, never "lost again".
    server.stop()
    alice.wait(lambda: "connection lost" in alice.find("#status").text, "the lost connection")
    alice.wait(lambda: "cannot be reached" in alice.find("#status").text, "the failed reconnection")
    assert "again" not in alice.find("#status").text
    assert alice.console() == [] or all("WebSocket" in line for line in alice.console()), alice.console()


def test_a_hidden_tab_notifies_of_a_private_message_and_a_mention(
        tmp_path: Path, people: list[Browser | PtyProgram]) -> None:
    """Issue 28: desktop notifications, asked for on the logon click, shown while the tab is hidden."""
    server, url = web_server(tmp_path)
    page = Browser(url)
    people.append(page)
    page.driver.execute_cdp_cmd("Browser.grantPermissions", {"origin": url.rstrip("/"),
                                                             "permissions": ["notifications"]})
    # Chromium shows notifications outside the page: record what the page asks it to show.
    page.run("window.shown = []; const Shown = window.Notification; window.Notification = class extends Shown {"
             " constructor(title, options) { super(title, options); window.shown.push(`${title}: ${options.body}`); } };")
    page.find("#nick").send_keys("alice", Keys.ENTER)
    page.wait_for_text("alice has joined lobby")
    bob = WireClient(server.host, server.port).logon("bob")
    first = page.driver.current_window_handle
    page.driver.switch_to.new_window("tab")  # the chat's tab is now hidden
    bob.send(code=5, text="nothing for you, malice aside")
    bob.send(code=5, text="alice, are you there?")
    bob.send(code=6, to="alice", text="psst")
    time.sleep(1.0)
    page.driver.close()
    page.driver.switch_to.window(first)
    assert page.run("return window.shown") == ["bob in lobby: alice, are you there?", "bob (private): psst"]
    assert page.run("return document.title").startswith("(3) ")
    server.stop()


def test_the_member_list_marks_who_is_away(tmp_path: Path, people: list[Browser | PtyProgram]) -> None:
    """Issue 28: no away mark in the member list; now marked as it changes, and for whoever joins later."""
    server, url = web_server(tmp_path)
    bob = WireClient(server.host, server.port).logon("bob")
    bob.send(code=13, text="at lunch")
    bob.recv_until(lambda m: m["code"] == 13)
    alice = browser(people, url, "alice")

    def marks() -> list[tuple[str, str]]:
        return alice.run("return [...document.querySelectorAll('#member-list .member')]"
                         ".map(m => [m.textContent, m.className.includes('away') ? m.title : ''])")

    alice.wait(lambda: marks() == [["alice", ""], ["bob", "bob is away"]], "bob marked away on joining")
    bob.send(code=13)
    alice.wait(lambda: marks() == [["alice", ""], ["bob", ""]], "bob back")
    bob.send(code=13, text="in a meeting")
    alice.wait(lambda: marks() == [["alice", ""], ["bob", "bob is away: in a meeting"]], "bob away again")
    assert alice.run("return getComputedStyle(document.querySelector('#member-list .member.away'), '::after')"
                     ".content") == '" (away)"'
    server.stop()

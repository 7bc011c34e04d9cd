"""The twistd plugin's options, as they become listening endpoints."""

from __future__ import annotations

from twisted.internet import endpoints, reactor

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

"""
Test hosts of our own: Linux network namespaces joined by veth links to a
bridge, each with a private address (made and removed by the test, as root,
with iproute2).  What runs in them talks over a real, if virtual, network.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

from tests.processes import TIMEOUT


def ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=TIMEOUT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


class Network:
    """A switch (a bridge in a namespace of its own) and hosts plugged into it."""

    def __init__(self, subnet: str = "10.77.0") -> None:
        self.tag = secrets.token_hex(2)
        self.subnet = subnet
        self.switch = f"chat-sw-{self.tag}"
        self.hosts: dict[str, str] = {}  # name -> namespace
        ip("netns", "add", self.switch)
        ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        ip("-n", self.switch, "link", "set", "br0", "up")

    def host(self, name: str, number: int) -> str:
        """A new host with address SUBNET.NUMBER/24; returns the address."""
        ns = f"chat-{name}-{self.tag}"
        ip("netns", "add", ns)
        self.hosts[name] = ns
        inside, outside = f"v{self.tag}{number}a", f"v{self.tag}{number}b"
        ip("link", "add", inside, "netns", ns, "type", "veth", "peer", "name", outside, "netns", self.switch)
        ip("-n", self.switch, "link", "set", outside, "master", "br0", "up")
        address = f"{self.subnet}.{number}"
        ip("-n", ns, "addr", "add", f"{address}/24", "dev", inside)
        ip("-n", ns, "link", "set", inside, "up")
        ip("-n", ns, "link", "set", "lo", "up")
        return address

    def run_in(self, name: str) -> list[str]:
        """The command prefix that runs a program on host C{name}."""
        return ["ip", "netns", "exec", self.hosts[name]]

    def remove(self) -> None:
        for ns in [*self.hosts.values(), self.switch]:
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True, timeout=TIMEOUT, check=False)


@contextmanager
def network() -> Iterator[Network]:
    net = Network()
    try:
        yield net
    finally:
        net.remove()

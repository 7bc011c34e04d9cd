"""
Run on the clients' test host (tests/test_e2e_cluster_network.py): alice on
one node, bob on the other, a few lines each way; prints what each saw.
"""

from __future__ import annotations

import json
import sys

from tests.processes import WireClient


def main() -> None:
    (a_host, a_port), (b_host, b_port) = (arg.rsplit(":", 1) for arg in sys.argv[1:3])
    alice = WireClient(a_host, int(a_port)).logon("alice")
    bob = WireClient(b_host, int(b_port)).logon("bob")
    alice.recv_until(lambda m: m.get("nick") == "bob")
    for i in range(5):
        alice.send(code=5, text=f"from alice {i}")
        bob.send(code=5, text=f"from bob {i}")
    seen = {}
    for name, client in (("alice", alice), ("bob", bob)):
        frames = client.recv_until(lambda m: m.get("id") == 10)
        seen[name] = [(m["nick"], m["text"], m["id"]) for m in frames if m["code"] == 5]
    bob.send(code=6, to="alice", text="across the network")
    seen["private"] = alice.recv_until(lambda m: m["code"] == 6)[-1]["text"]
    print(json.dumps(seen))


if __name__ == "__main__":
    main()

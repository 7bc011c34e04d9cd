"""
The cluster over a real network, which the seed's author never tried:
Redis, two nodes and their clients each on a test host of its own (network
namespaces and veth links made by the test), on private addresses; the
nodes bind and advertise the addresses they are given, not loopback.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.netns import network
from tests.processes import ROOT, TIMEOUT, ServerProcess, source_env
from tests.redis_server import RedisProcess


def test_nodes_on_separate_hosts_share_one_chat(tmp_path: Path) -> None:
    with network() as net:
        redis_ip = net.host("redis", 1)
        a_ip = net.host("node-a", 2)
        b_ip = net.host("node-b", 3)
        net.host("clients", 4)
        redis = RedisProcess(tmp_path / "redis", host=redis_ip, port=6379, netns=net.hosts["redis"])
        try:
            nodes = []
            for name, address in (("node-a", a_ip), ("node-b", b_ip)):
                nodes.append(ServerProcess(tmp_path, [
                    "--port", "0", "--interface", address, "--advertise", f"{address}:1500",
                    "--redis", redis.url, "--cluster-ttl", "2",
                ], prefix=net.run_in(name)))
            for proc, address in zip(nodes, (a_ip, b_ip)):
                assert (proc.host, proc.port) == (address, 1500)
                proc.wait_for_output(re.compile(rb"joined the cluster at redis://10\.77\.0\.1:6379/0"))

            # Each node's heartbeat in Redis carries the address it was given.
            keys = redis.command("KEYS", "chat:alive:*").split()
            advertised = sorted(redis.command("GET", k.decode()).strip().decode() for k in keys)
            assert advertised == [f"{a_ip}:1500", f"{b_ip}:1500"]

            done = subprocess.run(
                [*net.run_in("clients"), sys.executable, "-m", "tests.netns_client", f"{a_ip}:1500", f"{b_ip}:1500"],
                cwd=ROOT, env=source_env(), capture_output=True, text=True, timeout=4 * TIMEOUT, check=False)
            assert done.returncode == 0, done.stderr[-3000:]
            seen = json.loads(done.stdout)
            assert seen["alice"] == seen["bob"]
            assert [line[2] for line in seen["alice"]] == list(range(1, 11))
            for who in ("alice", "bob"):
                assert [t for n, t, _ in seen["alice"] if n == who] == [f"from {who} {i}" for i in range(5)]
            assert seen["private"] == "across the network"
            # Nothing reached the nodes over loopback: their clients came from the clients' host.
            for proc in nodes:
                assert b"10.77.0.4:" in proc.output and b"127.0.0.1" not in proc.output
        finally:
            for proc in ServerProcess.started:
                proc.kill()
            redis.kill()

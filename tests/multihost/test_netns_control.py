"""Control across real network isolation: a graph in one namespace, operators in others.

robot (10.77.0.1) runs `edge launch --control tcp://10.77.0.1:5600`; laptop (10.77.0.2)
holds an admin key, guest (10.77.0.3) a read key and then no key at all.
"""
from __future__ import annotations

import json
import re
import sys
import textwrap

import pytest

from edge.security import keys
from netns import EDGE, network_or_skip

pytestmark = pytest.mark.timeout(120)

GRAPH = textwrap.dedent("""\
    name: robot
    nodes:
      - name: ticker
        type: ticker
        parameters: {rate_hz: 20}
        outputs: {tick: ticks}
      - name: relay
        type: relay
        inputs: {in: ticks}
        outputs: {out: relayed}
    """)

RAW_REQ = textwrap.dedent("""\
    import sys, msgpack, zmq
    s = zmq.Context().socket(zmq.REQ); s.linger = 0; s.connect(sys.argv[1])
    s.send(msgpack.packb({"v": 1, "id": 1, "method": sys.argv[2], "body": None}))
    print("reply" if s.poll(1500) else "no reply"); s.close(linger=0)
    """)


def test_control_across_namespaces_keys_and_roles():
    with network_or_skip(["robot", "laptop", "guest"]) as net:
        robot, laptop, guest = (net.hosts[n] for n in ("robot", "laptop", "guest"))
        identities = {h.name: keys.init(h.keys_dir) for h in (robot, laptop, guest)}
        robot_key = identities["robot"].public.decode()
        # what `edge keys trust` does on each machine
        keys.trust("laptop", identities["laptop"].public.decode(), role="admin",
                   directory=robot.keys_dir)
        keys.trust("guest", identities["guest"].public.decode(), role="read",
                   directory=robot.keys_dir)
        for host in (laptop, guest):
            keys.trust("robot", robot_key, role="read", address=robot.address,
                       directory=host.keys_dir)

        endpoint = f"tcp://{robot.address}:5600"
        (robot.dir / "graph.yaml").write_text(GRAPH)
        graph = net.start("robot", EDGE, "launch", str(robot.dir / "graph.yaml"), "--no-color",
                          "--control", endpoint)
        graph.wait_for(r"all 2 node\(s\) ready", 40)

        # the laptop's admin key: plain `edge nodes --control`, no other flag
        nodes = laptop.run(EDGE, "nodes", "--json", "--control", endpoint)
        assert nodes.returncode == 0, nodes.stderr
        assert {n["name"]: n["state"] for n in json.loads(nodes.stdout)} == \
            {"ticker": "running", "relay": "running"}

        # the guest's read key: may look, may not stop
        assert guest.run(EDGE, "topic", "list", "-c", endpoint).returncode == 0
        denied = guest.run(EDGE, "node", "stop", "ticker", "-c", endpoint)
        assert denied.returncode == 1
        assert denied.stderr.startswith("error: PERMISSION_DENIED: 'node.stop' needs an admin key")

        # no key at all, from the guest's machine: no reply
        raw = guest.run(sys.executable, "-c", RAW_REQ, endpoint, "shutdown", env=guest.env)
        assert raw.stdout.strip() == "no reply", raw.stderr

        # the guest's key revoked on the robot: refused, and the robot logs it
        keys.revoke("guest", robot.keys_dir)
        refused = guest.run(EDGE, "call", endpoint, "ping", "--timeout", "1", "--retries", "0")
        assert refused.returncode == 1 and "UNAVAILABLE: no reply" in refused.stderr
        graph.wait_for("refused CURVE key " + re.escape(identities["guest"].public.decode())
                       + f" from {re.escape(guest.address)}")

        # the graph kept running through all of it; the admin stops it
        nodes = laptop.run(EDGE, "nodes", "--json", "-c", endpoint)
        assert all(n["state"] == "running" and n["restarts"] == 0 for n in json.loads(nodes.stdout))
        stop = laptop.run(EDGE, "shutdown", "-c", endpoint)
        assert stop.returncode == 0, stop.stderr
        assert graph.wait_exit(20) == 0

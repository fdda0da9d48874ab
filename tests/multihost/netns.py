"""Hosts for tests: network namespaces joined by one bridge, made and removed by the test.

Each host is a namespace with one veth (`eth0`, 10.77.0.N/24) whose peer sits on a bridge
in a hub namespace of its own, so nothing is added to the machine's own network. Each
host also gets its own key and runtime directories, like a separate machine would.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "launch"))

from launch_process import EDGE, OutputProcess  # noqa: E402

SUBNET = "10.77.0"


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if result.returncode != 0:
        raise OSError(f"ip {' '.join(args)}: {result.stderr.strip()}")


def kill_namespace_processes(namespace: str, wait_s: float = 5.0) -> None:
    """SIGKILL every process inside `namespace` (`ip netns pids`), and wait until none is left."""
    deadline = time.monotonic() + wait_s
    while True:
        found = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True,
                               text=True, timeout=10)
        pids = [int(p) for p in found.stdout.split() if p.isdigit()]
        if not pids or time.monotonic() > deadline:
            return
        for pid in pids:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        time.sleep(0.05)


def namespaces_unavailable() -> str | None:
    """Why namespaces cannot be made here, or None."""
    if os.geteuid() != 0:
        return "network namespaces need root (CI runs these as root)"
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    probe = f"edgeprobe{os.getpid()}"
    try:
        _ip("netns", "add", probe)
    except OSError as exc:
        return f"`ip netns add` is not permitted here: {exc}"
    _ip("netns", "del", probe)
    return None


class Host:
    def __init__(self, name: str, namespace: str, address: str, base_env: dict):
        self.name, self.namespace, self.address = name, namespace, address
        self.dir = Path(tempfile.mkdtemp(prefix=f"edh{name}", dir="/tmp"))
        self.keys_dir, self.runtime_dir = self.dir / "keys", self.dir / "run"
        self.env = {**base_env, "EDGE_KEYS_DIR": str(self.keys_dir),
                    "EDGE_RUNTIME_DIR": str(self.runtime_dir)}
        for key in ("EDGE_CONTROL", "EDGE_NODE_CONFIG", "EDGE_SERVER_KEY", "EDGE_INSECURE"):
            self.env.pop(key, None)

    def link(self, state: str) -> None:
        """Unplug (`down`) or plug in (`up`) this host's network cable."""
        _ip("-n", self.namespace, "link", "set", "eth0", state)

    def argv(self, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.namespace, *argv]

    def run(self, *argv: str, timeout_s: float = 40, env: dict | None = None):
        return subprocess.run(self.argv(*argv), env=env or self.env, capture_output=True,
                              text=True, timeout=timeout_s)

    def start(self, *argv: str, env: dict | None = None) -> OutputProcess:
        return OutputProcess(self.argv(*argv), env or self.env)


class Network:
    """Hosts by name; use as a context manager so everything is removed again."""

    def __init__(self, names: list[str]):
        tag = f"e{os.getpid() % 100000}"
        self.hub = f"{tag}hub"
        self.hosts = {name: Host(name, f"{tag}{name}", f"{SUBNET}.{index + 1}", dict(os.environ))
                      for index, name in enumerate(names)}
        self._made: list[str] = []
        self.procs: list[OutputProcess] = []

    def __enter__(self) -> "Network":
        try:
            self._make()
        except OSError:
            self.__exit__()
            raise
        return self

    def _make(self) -> None:
        _ip("netns", "add", self.hub)
        self._made.append(self.hub)
        _ip("-n", self.hub, "link", "add", "br0", "type", "bridge", "forward_delay", "0")
        _ip("-n", self.hub, "link", "set", "br0", "up")
        for index, host in enumerate(self.hosts.values()):
            _ip("netns", "add", host.namespace)
            self._made.append(host.namespace)
            _ip("-n", host.namespace, "link", "set", "lo", "up")
            port = f"p{index}"
            _ip("-n", self.hub, "link", "add", port, "type", "veth", "peer", "name", "eth0",
                "netns", host.namespace)
            _ip("-n", self.hub, "link", "set", port, "master", "br0", "up")
            _ip("-n", host.namespace, "addr", "add", f"{host.address}/24", "dev", "eth0")
            _ip("-n", host.namespace, "link", "set", "eth0", "up")

    def start(self, host: str, *argv: str, env: dict | None = None) -> OutputProcess:
        proc = self.hosts[host].start(*argv, env=env)
        self.procs.append(proc)
        return proc

    def __exit__(self, *exc) -> None:
        for proc in self.procs:
            proc.kill()
        for name in self._made:
            kill_namespace_processes(name)  # also orphans whose parent died first
        for name in reversed(self._made):
            try:
                _ip("netns", "del", name)
            except OSError:
                pass
        for host in self.hosts.values():
            shutil.rmtree(host.dir, ignore_errors=True)


def network_or_skip(names: list[str]) -> Network:
    reason = namespaces_unavailable()
    if reason:
        print(f"SKIPPED network-namespace test: {reason}", file=sys.stderr)
        pytest.skip(reason)
    return Network(names)

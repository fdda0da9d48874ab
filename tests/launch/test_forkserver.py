"""Nodes forked from the fork server (edge.launch.zygote) behave like spawned ones."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from edge.launch.control import ControlClient
from launch_process import alive, counter_graph, descendants, read_sink, wait_until

pytestmark = pytest.mark.timeout(60)

PROBE = """\
import os
from edge import Node
from edge.memory.allocator import tune_allocator
node = Node()
probes = ",".join(sorted(k for k in os.environ if k.startswith("PROBE_")))
print("probe", node.name, os.environ.get("PROBE_MINE"), node.params["tag"], probes,
      bool(tune_allocator()), os.getpgid(0) == os.getpid(), flush=True)
for event in node:
    pass
node.close()
"""


def nodes_by_name(control: str) -> dict:
    with ControlClient(control) as client:
        return {n["name"]: n for n in client.nodes()}


def forked(pid: int) -> bool:
    """A forked node still has the fork server's command line."""
    return b"edge.launch.zygote" in Path(f"/proc/{pid}/cmdline").read_bytes()


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def probe_graph(script: Path) -> str:
    return f"""\
nodes:
  - {{name: first, type: {script.name}, parameters: {{tag: one}},
     env: {{PROBE_MINE: a, PROBE_SECRET: only-first}}}}
  - {{name: second, type: {script.name}, parameters: {{tag: two}}, env: {{PROBE_MINE: b}}}}
  - {{name: third, type: {script.name}, parameters: {{tag: three}},
     env: {{PROBE_MINE: c, MALLOC_ARENA_MAX: "2"}}}}
  - {{name: fourth, type: {script.name}, parameters: {{tag: four}},
     env: {{PROBE_MINE: d, PROBE_BIG1: {"x" * 100_000}, PROBE_BIG2: {"x" * 100_000},
           PROBE_BIG3: {"x" * 100_000}, PROBE_BIG4: {"x" * 100_000}}}}}
"""


def test_forked_nodes_get_only_their_own_env_params_group_and_malloc_tuning(launch, rt_dir):
    script = rt_dir / "probe_node.py"
    script.write_text(PROBE)
    graph = launch(probe_graph(script))
    graph.wait_ready()
    graph.wait_for(r"\| probe ", count=4)
    expected = {"first": "a one PROBE_MINE,PROBE_SECRET", "second": "b two PROBE_MINE",
                "third": "c three PROBE_MINE", "fourth": "d four PROBE_BIG1,PROBE_BIG2,PROBE_BIG3,PROBE_BIG4,PROBE_MINE"}
    for name, values in expected.items():
        graph.wait_for(rf"^{name}\s+\| probe {name} {values} True True$")
    nodes = nodes_by_name(graph.control)
    assert forked(nodes["first"]["pid"]) and forked(nodes["second"]["pid"])
    # MALLOC_* is read when the C library starts: that node must be a fresh process
    assert not forked(nodes["third"]["pid"])
    assert not forked(nodes["fourth"]["pid"])  # an environment too big for one request
    assert "fork server" not in graph.output  # ... which is no failure of the fork server
    for node in nodes.values():  # every node is the launcher's own child, whoever forked it
        assert _parent(node["pid"]) == graph.proc.pid
    graph.proc.send_signal(signal.SIGINT)
    assert graph.wait_exit(15) == 130


def test_kill_9_of_a_forked_node_restarts_it_forked_and_a_dead_fork_server_falls_back(
        launch, rt_dir):
    sink = rt_dir / "sink.txt"
    graph = launch(counter_graph(sink))
    graph.wait_ready()
    before = nodes_by_name(graph.control)
    assert all(forked(n["pid"]) for n in before.values())
    os.kill(before["scale"]["pid"], signal.SIGKILL)
    graph.wait_for(r"node 'scale' ready again", 15)
    scale = nodes_by_name(graph.control)["scale"]
    assert scale["pid"] != before["scale"]["pid"] and forked(scale["pid"])

    node_pids = {n["pid"] for n in nodes_by_name(graph.control).values()}
    server = [pid for pid in descendants(graph.proc.pid)
              if pid not in node_pids and alive(pid) and forked(pid)]
    assert len(server) == 1
    os.kill(server[0], signal.SIGKILL)
    graph.wait_for(r"fork server exited .*: starting nodes as separate processes from now on")
    os.kill(scale["pid"], signal.SIGKILL)
    graph.wait_for(r"node 'scale' ready again", 15, count=2)
    scale = nodes_by_name(graph.control)["scale"]
    assert not forked(scale["pid"])
    count = len(read_sink(sink))
    wait_until(lambda: len(read_sink(sink)) > count + 5, 10, "data through the respawned node")
    graph.proc.send_signal(signal.SIGINT)
    assert graph.wait_exit(15) == 130
    assert graph.output.count("fork server") == 1
    assert not any(alive(pid) for pid in node_pids | {scale["pid"]})


def test_opting_out_spawns_every_node(launch, edge_env, rt_dir):
    edge_env["EDGE_FORK_SERVER"] = "0"
    graph = launch(counter_graph(rt_dir / "sink.txt"))
    graph.wait_ready()
    pids = [n["pid"] for n in nodes_by_name(graph.control).values()]
    assert not any(forked(pid) for pid in pids)
    assert not any(forked(pid) for pid in descendants(graph.proc.pid) if alive(pid))
    graph.proc.send_signal(signal.SIGINT)
    assert graph.wait_exit(15) == 130


def _start_zygote(theirs: socket.socket, *wrapper: str) -> subprocess.Popen:
    argv = [*wrapper, sys.executable, "-u", "-m", "edge.launch.zygote", str(theirs.fileno())]
    return subprocess.Popen(argv, pass_fds=(theirs.fileno(),), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def test_the_fork_server_answers_only_the_process_that_started_it():
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with ours, theirs:  # started by a shell: its peer (us) is not its parent
        proc = _start_zygote(theirs, "/bin/sh", "-c", 'exec "$0" "$@"; exit 9')
        theirs.close()
        # `exec` keeps the pid: the parent is us, so this one must accept ...
        ours.settimeout(30)
        assert ours.recv(100) == b'{"ready": true}'
    assert proc.wait(timeout=10) == 0  # ... and exit when its channel closes
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with ours, theirs:
        proc = _start_zygote(theirs, "/bin/sh", "-c", '"$0" "$@"; exit $?')
        theirs.close()
        ours.settimeout(30)
        assert proc.wait(timeout=30) == 2  # its parent is the shell, its peer is us: refused
        assert ours.recv(100) == b""


def test_bad_requests_get_one_line_errors_and_the_server_keeps_serving():
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with ours, theirs:
        proc = _start_zygote(theirs)
        theirs.close()
        ours.settimeout(30)
        assert ours.recv(100) == b'{"ready": true}'
        read_fd, write_fd = os.pipe()
        fds = [write_fd, read_fd]
        try:
            bad = [(b"\xff not json", fds), (b"[1, 2]", fds),
                   (json.dumps({"argv": ["x", "-c", "print(1)"], "env": {}}).encode(), fds),
                   (json.dumps({"argv": ["x", "-u", "-m", "m"], "env": {"A": 1}}).encode(), fds),
                   (json.dumps({"argv": ["x", "-u", "-m", "m"], "env": {}}).encode(), []),
                   (json.dumps({"argv": ["x", "-u", "-m", "m"], "env": {}}).encode(),
                    [write_fd])]
            for data, fds in bad:
                socket.send_fds(ours, [data], fds)
                reply = json.loads(ours.recv(4096))
                assert set(reply) == {"error"} and "\n" not in reply["error"]
        finally:
            os.close(read_fd), os.close(write_fd)
        assert proc.poll() is None
    assert proc.wait(timeout=10) == 0
    assert proc.stderr.read() == b""


GATE_PROBE = """\
import ctypes, json, os, socket, subprocess, sys
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # a subreaper, as edge launch is
ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
zygote = subprocess.Popen([sys.executable, "-u", "-m", "edge.launch.zygote", str(theirs.fileno())],
                          pass_fds=(theirs.fileno(),), stdout=subprocess.DEVNULL)
theirs.close()
ours.settimeout(30)
assert ours.recv(100) == b'{"ready": true}'
results = []
for go in (False, True):
    out_read, out_write = os.pipe()
    go_read, go_write = os.pipe()
    request = {"argv": [sys.executable, "-u", "-m", "this"], "env": dict(os.environ), "cwd": None}
    socket.send_fds(ours, [json.dumps(request).encode()], [out_write, go_read])
    pid = json.loads(ours.recv(4096))["pid"]
    os.close(out_write), os.close(go_read)
    if go:
        os.write(go_write, b"1")
    os.close(go_write)  # without a byte first: the supervisor gave up on this node
    with os.fdopen(out_read, "rb") as output:
        printed = output.read()
    results.append([os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), b"Zen of Python" in printed])
ours.close()
zygote.wait(10)
print(json.dumps(results))
"""


def test_a_node_the_supervisor_gave_up_on_never_runs():
    """A fork whose reply came too late (the supervisor spawned the node instead) must not
    run beside that copy: it waits for the supervisor's go and leaves at EOF."""
    done = subprocess.run([sys.executable, "-c", GATE_PROBE], capture_output=True, timeout=50)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert json.loads(done.stdout) == [[0, False], [0, True]]


def test_what_a_dead_node_leaves_behind_is_reaped_not_left_as_zombies(launch, rt_dir):
    script = rt_dir / "parent_node.py"
    script.write_text(
        "import subprocess\nfrom edge import Node\nnode = Node()\n"
        "child = subprocess.Popen(['sleep', '60'])\n"
        "print('child', child.pid, flush=True)\n"
        "for event in node:\n    pass\n")
    graph = launch(f"nodes:\n  - {{name: parent, type: {script.name}, restart: never}}\n"
                   f"  - {{name: other, type: graph_nodes:Counter}}\n")
    graph.wait_ready()
    line = graph.wait_for(r"^parent\s+\| child \d+$")[0]
    child = int(line.split()[-1])
    os.kill(nodes_by_name(graph.control)["parent"]["pid"], signal.SIGKILL)
    # its group is killed; the orphan was re-parented to the launcher, which must reap it
    wait_until(lambda: not Path(f"/proc/{child}").exists(), 10, "the orphan to be reaped")
    graph.proc.send_signal(signal.SIGINT)
    assert graph.wait_exit(15) == 130

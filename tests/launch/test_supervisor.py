"""`edge launch` with real processes: restarts, crash loops, signals, cleanup."""
from __future__ import annotations

import os
import signal
import subprocess

import pytest

from edge.launch.control import ControlClient
from launch_process import EDGE, alive, counter_graph, descendants, read_sink, wait_until

pytestmark = pytest.mark.timeout(60)


def nodes_by_name(control: str) -> dict:
    with ControlClient(control) as client:
        return {n["name"]: n for n in client.nodes()}


def test_kill_9_of_a_streaming_node_restarts_it_and_data_flows_again(launch, rt_dir):
    sink = rt_dir / "sink.txt"
    graph = launch(counter_graph(sink))
    graph.wait_ready()
    wait_until(lambda: len(read_sink(sink)) > 5, 10, "the sink to receive")
    before = nodes_by_name(graph.control)
    os.kill(before["scale"]["pid"], signal.SIGKILL)

    def respawned():
        scale = nodes_by_name(graph.control)["scale"]
        return scale if scale["pid"] not in (None, before["scale"]["pid"]) else None
    scale = wait_until(respawned, 5, "scale to be respawned", interval_s=0.02)
    graph.wait_for(r"node 'scale' ready again", 15)
    count = len(read_sink(sink))
    wait_until(lambda: len(read_sink(sink)) > count + 10, 10, "the sink to receive again")

    after = nodes_by_name(graph.control)
    assert scale["restarts"] == 1 and after["scale"]["state"] == "running"
    for name in ("counter", "sink"):  # the rest never stopped
        assert after[name]["pid"] == before[name]["pid"] and after[name]["restarts"] == 0
    assert "node 'scale' was killed by SIGKILL; restarting in 0.20 s" in graph.output


def test_crash_loop_stops_at_max_restarts_and_the_rest_keeps_running(launch, rt_dir):
    sink = rt_dir / "sink.txt"
    graph = launch(counter_graph(sink, extra="""\
  - name: crasher
    type: graph_nodes:Crasher
    parameters: {exit_code: 3, before_ready: true}
    max_restarts: 2
"""))
    graph.wait_for(r"node 'crasher' FAILED: exited with code 3; it was restarted 2 time\(s\) in a "
                   r"row \(max_restarts=2\), giving up; the rest of the graph keeps running", 30)
    graph.wait_for(r"3 of 4 node\(s\) ready in [\d.]+ s; not running: crasher \(failed\)")
    nodes = nodes_by_name(graph.control)
    assert nodes["crasher"]["state"] == "failed" and nodes["crasher"]["restarts"] == 2
    assert nodes["crasher"]["exit_code"] == 3 and nodes["crasher"]["pid"] is None
    assert all(nodes[n]["state"] == "running" and nodes[n]["restarts"] == 0
               for n in ("counter", "scale", "sink"))
    count = len(read_sink(sink))
    wait_until(lambda: len(read_sink(sink)) > count + 5, 10, "the sink to keep receiving")
    assert graph.proc.poll() is None


@pytest.mark.parametrize("signum,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_every_node_and_cleans_up(launch, rt_dir, signum, code):
    graph = launch(counter_graph(rt_dir / "sink.txt"))
    graph.wait_ready()
    pids = [n["pid"] for n in nodes_by_name(graph.control).values()]
    assert len(pids) == 3 and set(pids) <= descendants(graph.proc.pid)
    graph.proc.send_signal(signum)
    assert graph.wait_exit() == code
    assert not [pid for pid in pids if alive(pid)]
    assert not list(rt_dir.rglob("*.sock")), "stale ipc files"
    assert not list(rt_dir.glob("launch.*")), "stale launch dir"
    assert f"{signal.Signals(signum).name} received: stopping 3 node(s)" in graph.output
    assert "stopped in" in graph.output


def test_a_node_that_ignores_stop_and_sigterm_is_killed(launch, rt_dir):
    graph = launch("nodes:\n  - {name: stubborn, type: 'graph_nodes:Stubborn'}\n", "--grace", "0.5")
    graph.wait_ready()
    pid = nodes_by_name(graph.control)["stubborn"]["pid"]
    graph.proc.send_signal(signal.SIGINT)
    assert graph.wait_exit() == 130
    assert not alive(pid)
    assert "node 'stubborn' did not stop after its stop event; sending SIGTERM" in graph.output
    assert "node 'stubborn' ignored SIGTERM; sending SIGKILL" in graph.output
    assert not list(rt_dir.rglob("*.sock"))


def test_duration_stops_cleanly_with_exit_code_0(launch, rt_dir):
    sink = rt_dir / "sink.txt"
    graph = launch(counter_graph(sink), "--duration", "2")
    assert graph.wait_exit(30) == 0
    assert "--duration 2 s is up: stopping 3 node(s)" in graph.output
    assert "stopped in" in graph.output and not list(rt_dir.rglob("*.sock"))


def test_a_graph_whose_nodes_all_finish_ends(launch):
    graph = launch("nodes:\n  - {name: once, type: ticker, parameters: {rate_hz: 50, count: 3}, "
                   "outputs: {tick: t}, restart: on-failure}\n")
    assert graph.wait_exit(30) == 0
    assert "node 'once' exited with code 0 (restart: on-failure)" in graph.output
    assert "every node has finished" in graph.output


def test_a_second_launch_on_the_same_control_endpoint_is_refused(launch, edge_env, rt_dir):
    graph = launch("nodes:\n  - {name: a, type: ticker, outputs: {tick: t}}\n")
    graph.wait_ready()
    path = rt_dir / "graph.yaml"
    result = subprocess.run([EDGE, "launch", str(path)], env=edge_env, capture_output=True,
                            text=True, timeout=20)
    assert result.returncode == 1
    assert "error: FAILED_PRECONDITION: graph 'graph' (pid" in result.stderr
    assert "is already running at" in result.stderr and "Traceback" not in result.stderr
    assert nodes_by_name(graph.control)["a"]["state"] == "running"


def test_script_nodes_and_node_env(launch, rt_dir):
    script = rt_dir / "probe_node.py"
    script.write_text(
        "import os\nfrom edge import Node\nnode = Node('scripted')\n"
        "print('greeting', os.environ['GREETING'], node.params['who'], flush=True)\n"
        "for event in node:\n    pass\nnode.close()\n")
    graph = launch(f"""\
nodes:
  - name: scripted
    type: {script.name}
    parameters: {{who: world}}
    env: {{GREETING: hello}}
""")
    graph.wait_ready()
    graph.wait_for(r"^scripted\s+\| greeting hello world$")
    graph.proc.send_signal(signal.SIGINT)
    assert graph.wait_exit() == 130

"""The Node API: exact topics, timers, live params, one Stop on SIGTERM, thread ownership."""
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from edge import Client, Node, NodeType, Param
from edge.errors import FailedPrecondition, InvalidArgument, NotFound
from edge.signals import StopSignals
from edge.testing import FakeClock
from edge.timers import Timers


@pytest.fixture
def nodes(short_dir):
    made = []

    def make(name, **kwargs):
        node = Node(name, handle_signals=False, **kwargs)
        made.append(node)
        return node

    yield make
    for node in made:
        node.close()


def wait_connected(pub, sub, topic):
    """Publish until the subscriber has a message, then drain the extra hellos in flight:
    a last marker comes after all of them (one connection keeps order)."""
    for _ in range(200):
        pub.publish(topic, "hello")
        if sub.next_event(timeout_s=0.02) is not None:
            break
    else:
        raise AssertionError("subscriber never connected")
    pub.publish(topic, "connected")
    while (event := sub.next_event(timeout_s=2)) is not None and event.value != "connected":
        assert event.value == "hello", event
    assert event is not None, "the marker never arrived"


@pytest.mark.timeout(20)
def test_topics_match_exactly_not_by_prefix(nodes, short_dir):
    endpoint = f"ipc://{short_dir}/pub.sock"
    pub = nodes("pub", endpoint=endpoint)
    pub.bind_outputs()
    sub = nodes("sub")
    sub.subscribe("cam", endpoint=endpoint, queue_size=100)
    wait_connected(pub, sub, "cam")
    pub.publish("camera", 1)
    pub.publish("cam/x", 2)
    pub.publish("cam", 3)
    event = sub.next_event(timeout_s=2)
    assert (event.kind, event.topic, event.value) == ("input", "cam", 3)
    assert sub.next_event(timeout_s=0.2) is None


@pytest.mark.timeout(20)
def test_stamp_is_carried_and_source_named(nodes, short_dir):
    endpoint = f"ipc://{short_dir}/pub.sock"
    pub = nodes("camera", outputs={"image": {"topic": "cam/image", "endpoint": endpoint}})
    pub.bind_outputs()
    sub = nodes("viewer", inputs={"frame": {"topic": "cam/image", "endpoint": endpoint}})
    wait_connected(pub, sub, "image")
    pub.publish("image", np.zeros(3), stamp_ns=12345)
    event = sub.next_event(timeout_s=2)
    assert (event.name, event.topic, event.source, event.stamp_ns) == ("frame", "cam/image", "camera", 12345)
    assert event.pub_ns > 12345


def test_timers_tick_without_drift():
    clock = FakeClock()
    timers = Timers(clock.monotonic)
    timers.add("fast", 0.02)
    timers.add("slow", 0.1)
    ticks, late_s = {"fast": [], "slow": []}, [0.003, 0.0, 0.007, 0.001]
    while clock.elapsed_s < 0.5:
        clock.advance(timers.seconds_until_due() + late_s[len(ticks["fast"]) % 4])  # woken late
        while (name := timers.pop_due()) is not None:
            ticks[name].append(round(clock.elapsed_s, 3))
    assert len(ticks["fast"]) == 25 and len(ticks["slow"]) == 5, ticks
    # Each tick comes at its slot on the grid plus that wake-up's lateness: nothing adds up.
    assert all(0 <= at - 0.02 * (k + 1) < 0.008 for k, at in enumerate(ticks["fast"]))


@pytest.mark.timeout(20)
def test_a_node_delivers_its_timers_as_events(nodes):
    node = nodes("ticker")
    node.timer("fast", 0.02)
    node.timer("slow", 0.1)
    names = set()
    while names != {"fast", "slow"}:
        event = node.next_event(timeout_s=5)
        assert event is not None and event.kind == "timer", event
        names.add(event.name)


@pytest.mark.timeout(20)
def test_live_param_set_is_validated_and_delivered_as_event(nodes, short_dir):
    node = nodes("worker", parameters={"gain": 1.0, "mode": "a"})
    node.param_specs = {"gain": Param(float, 1.0, runtime=True), "mode": Param(str, "a")}
    node.serve("noop", lambda request: None)
    endpoint = node.service_endpoint
    results = {}

    def remote():
        with Client(endpoint, timeout_s=2) as client:
            results["set"] = client.call("param.set", {"key": "gain", "value": 3})
            for key, value in (("mode", "b"), ("gain", "high"), ("nope", 1)):
                try:
                    client.call("param.set", {"key": key, "value": value})
                except (FailedPrecondition, InvalidArgument, NotFound) as exc:
                    results[key] = type(exc).__name__
            try:  # a key that cannot be one (main: INTERNAL, a list is not hashable)
                client.call("param.get", {"key": ["gain"]})
            except InvalidArgument as exc:
                results["list key"] = type(exc).__name__
            results["get"] = client.call("param.get")

    thread = threading.Thread(target=remote)
    thread.start()
    event = node.next_event(timeout_s=5)
    assert (event.kind, event.name, event.value) == ("param", "gain", 3.0)
    deadline = time.monotonic() + 5
    while thread.is_alive() and time.monotonic() < deadline:
        node.next_event(timeout_s=0.05)
    thread.join()
    assert results == {"set": {"key": "gain", "value": 3.0}, "mode": "FailedPrecondition",
                       "gain": "InvalidArgument", "nope": "NotFound", "list key": "InvalidArgument",
                       "get": {"gain": 3.0, "mode": "a"}}


def test_second_thread_is_refused(nodes):
    node = nodes("owned")
    errors = []
    thread = threading.Thread(target=lambda: errors.append(
        pytest.raises(RuntimeError, node.publish, "x", 1)))
    thread.start()
    thread.join()
    assert "one thread owns" in str(errors[0].value)


@pytest.mark.timeout(30)
def test_sigterm_delivers_one_stop_event_and_exits_cleanly(short_dir):
    script = textwrap.dedent("""
        import sys
        from edge import Node
        node = Node("sleeper")
        node.timer("tick", 0.05)
        kinds = []
        for event in node:
            kinds.append(event.kind)
            if len(kinds) == 1:
                print("ready", flush=True)  # inside the loop: SIGTERM lands while it runs
        print(kinds.count("stop"), kinds[-1], node.stop_signal, flush=True)
        node.close()
    """)
    env = {**os.environ, "EDGE_RUNTIME_DIR": short_dir}
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
        assert out.split() == ["1", "stop", str(int(signal.SIGTERM))]
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()


class Doubler(NodeType):
    parameters = {"factor": Param(int, 2), "label": Param(str)}


def test_node_type_parameters_are_checked():
    values, problems = Doubler.resolve_parameters({"label": "x"})
    assert values == {"factor": 2, "label": "x"} and problems == []
    _, problems = Doubler.resolve_parameters({"factor": "two", "extra": 1})
    assert problems == ["unknown parameter 'extra'",
                        "parameter 'factor': expected int, got str 'two'",
                        "missing required parameter 'label'"]


@pytest.mark.timeout(60)
def test_deferred_reply_is_sent_while_inputs_keep_the_node_busy(nodes, short_dir, spawn):
    """A flood from another process, faster than the node's 1 ms of work per input, keeps an
    input ready at every turn of the loop, so the loop never polls; the deferred reply
    must still go out. The timeouts are generous because a node that never
    flushes while busy never replies at all: waiting longer cannot hide that."""
    endpoint = f"ipc://{short_dir}/flood.sock"
    node = nodes("busy-node")
    node.subscribe("busy", endpoint=endpoint, queue_size=1000)
    node.serve("later", lambda request: threading.Timer(
        0.05, request.defer().reply, args=["done"]).start())
    flooder = spawn("flood", endpoint)
    assert node.next_event(timeout_s=30).kind == "input"  # the flood has reached the node
    result = {}

    def call():
        with Client(node.service_endpoint, timeout_s=30, retries=0) as client:
            result["reply"] = client.call("later")

    caller = threading.Thread(target=call)
    caller.start()
    inputs_while_waiting = 0
    deadline = time.monotonic() + 40
    while caller.is_alive() and time.monotonic() < deadline:
        event = node.next_event(timeout_s=0.5)
        if event is not None and event.kind == "input":
            inputs_while_waiting += 1
            time.sleep(0.001)  # the node's work on an input
    caller.join(timeout=5)
    assert result == {"reply": "done"}
    assert inputs_while_waiting > 0 and flooder.poll() is None  # busy until the reply came


@pytest.mark.timeout(30)
def test_next_event_without_waiting_returns_a_message_the_socket_holds(nodes, short_dir):
    endpoint = f"ipc://{short_dir}/now.sock"
    publisher = nodes("now-pub", endpoint=endpoint)
    publisher.bind_outputs()
    reader = nodes("now-reader")
    source = reader.subscribe("in", topic="now", endpoint=endpoint)
    while not source.socket.poll(20):  # arrived, and not read by anyone yet
        publisher.publish("now", 1)
    event = reader.next_event(timeout_s=0)
    assert event is not None and event.kind == "input" and event.value == 1


def test_closing_twice_leaves_files_opened_since_alone():
    """A second close (or a late wake) must not touch fd numbers the first one gave back."""
    node = Node("twice", handle_signals=False)
    node.close()
    signals = StopSignals(lambda signum: None, enabled=False)
    signals.close()
    read_fd, write_fd = os.pipe()  # most likely the numbers just closed
    os.set_blocking(read_fd, False)
    try:
        node.close()
        signals.wake()
        signals.close()
        os.fstat(read_fd), os.fstat(write_fd)  # still open
        with pytest.raises(BlockingIOError):
            os.read(read_fd, 1)  # and nothing was written into them
    finally:
        os.close(read_fd), os.close(write_fd)

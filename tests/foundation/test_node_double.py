"""edge.testing: the in-process double behaves like a Node where node code can tell."""
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from edge.errors import FailedPrecondition, InvalidArgument, NotFound
from edge.nodetype import NodeType, Param, Port
from edge.testing import (FakeClock, FakeNode, call, idle, input_event, param_event, run_node,
                          stop_event, timer_event)
from edge.config import NodeConfig

pytestmark = pytest.mark.timeout(30)


class Echo(NodeType):
    """Publishes every input doubled; counts timer ticks; stops on a zero."""

    inputs = {"x": Port()}
    outputs = {"y": Port(), "ticks": Port()}
    parameters = {"gain": Param(float, default=2.0, runtime=True),
                  "tick_s": Param(float, default=0.0)}

    def run(self, node):
        if node.params["tick_s"]:
            node.timer("tick", node.params["tick_s"])
        ticks = 0
        for event in node:
            if event.kind == "input":
                if not event.value.any():
                    return
                node.publish("y", event.value * node.params["gain"], stamp_ns=event.stamp_ns)
            elif event.kind == "timer":
                ticks += 1
                node.publish("ticks", ticks)


def test_import_does_not_load_the_launcher():
    code = "import sys, edge.testing; print(any(m.startswith('edge.launch') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=20, check=True)
    assert out.stdout.strip() == "False"


def test_inputs_arrive_read_only_and_outputs_are_what_a_subscriber_decodes():
    run = run_node(Echo, events=[input_event("x", np.arange(3, dtype=np.int32), stamp_ns=7),
                                 param_event("gain", 3), input_event("x", np.ones(2))])
    first, second = run.outputs("y")
    np.testing.assert_array_equal(first.value, [0, 2, 4])
    assert first.stamp_ns == 7 and first.topic == "node/y" and first.seq == 1
    np.testing.assert_array_equal(second.value, [3.0, 3.0])
    assert run.params["gain"] == 3.0
    assert run.stats["inputs"]["x"]["received"] == 2
    assert run.stats["published"] == {"node/y": 2}
    assert run.node.delivered[-1].kind == "stop"                 # the script ends with Stop
    with pytest.raises(ValueError):
        run.node.delivered[0].value[0] = 1                       # like a received array


def test_timers_fire_on_the_fake_clock_only_while_idle():
    run = run_node(Echo, params={"tick_s": 0.25},
                   events=[input_event("x", np.ones(1)), idle(1.1), input_event("x", np.ones(1))])
    assert run.values("ticks") == [1, 2, 3, 4]
    assert [m.at_s for m in run.outputs("ticks")] == [0.25, 0.5, 0.75, 1.0]
    assert run.node.clock.elapsed_s == pytest.approx(1.1)


def test_a_node_that_returns_ends_the_run_early():
    run = run_node(Echo, events=[input_event("x", np.zeros(1)), input_event("x", np.ones(1))])
    assert run.published == [] and all(e.kind != "stop" for e in run.node.delivered)


def test_next_event_times_out_on_the_fake_clock():
    config = NodeConfig(name="n", inputs={"x": "x"})
    node = FakeNode(config, [idle(1.0), input_event("x", 1)], FakeClock())
    assert node.next_event(timeout_s=0.4) is None and node.clock.elapsed_s == pytest.approx(0.4)
    assert node.next_event(timeout_s=0.4) is None and node.clock.elapsed_s == pytest.approx(0.8)
    event = node.next_event(timeout_s=0.4)                       # the idle ends at 1.0 s
    assert event.kind == "input" and node.clock.elapsed_s == pytest.approx(1.0)
    assert node.next_event().kind == "stop" and node.next_event() is None


def test_script_mistakes_are_named():
    with pytest.raises(NotFound, match="input 'z', which node 'node' does not read"):
        run_node(Echo, inputs=["x"], events=[input_event("z", 1)])
    with pytest.raises(FailedPrecondition, match="'tick_s' .* cannot be changed at run time"):
        run_node(Echo, events=[param_event("tick_s", 1.0)])
    with pytest.raises(NotFound, match="published on 'y', which is not one of its outputs"):
        run_node(Echo, outputs=["ticks"], events=[input_event("x", np.ones(1))])


def test_an_explicit_stop_is_delivered_once():
    run = run_node(Echo, events=[stop_event(), input_event("x", np.ones(1)), timer_event("t")])
    assert [e.kind for e in run.node.delivered] == ["stop"] and run.published == []


class Tally(NodeType):
    """Sums its inputs and serves the sum; the methods a node type may serve, by kind."""

    inputs = {"x": Port()}

    def run(self, node):
        state = {"sum": 0}

        def reset(request):
            if not isinstance(request.body, int):
                raise InvalidArgument("reset needs an int")
            state["sum"] = request.body
            return "reset"

        node.serve("sum", lambda request: state["sum"], role="read")
        node.serve("reset", reset)
        node.serve("later", lambda request: threading.Timer(
            0.01, request.defer().reply, args=[request.body]).start())
        node.serve("broken", lambda request: 1 / 0)
        for event in node:
            if event.kind == "input":
                state["sum"] += event.value


def test_served_methods_answer_calls_between_events():
    run = run_node(Tally, events=[input_event("x", 2), call("sum"), input_event("x", 3),
                                  call("sum", role="read"), call("reset", 10), input_event("x", 1),
                                  call("sum"), idle(0.5)])
    assert [(r.ok, r.body) for r in run.answers("sum")] == [(True, 2), (True, 5), (True, 11)]
    assert [(r.ok, r.body) for r in run.answers("reset")] == [(True, "reset")]
    assert run.replies[0].at_s == 0.0 and run.replies[-1].at_s == 0.0  # before the idle


def test_calls_fail_like_they_do_on_a_node_service():
    run = run_node(Tally, events=[call("reset", "x"), call("reset", 1, role="read"),
                                  call("nope"), call("sum", role="read")])
    assert [(r.method, r.ok, r.error.get("code")) for r in run.replies] == [
        ("reset", False, "INVALID_ARGUMENT"), ("reset", False, "PERMISSION_DENIED"),
        ("nope", False, "UNIMPLEMENTED"), ("sum", True, None)]
    assert run.replies[0].error["message"] == "reset needs an int"


def test_a_deferred_answer_is_recorded_and_a_bug_shows_its_traceback():
    run = run_node(Tally, events=[call("later", {"a": [1, 2]})])
    deadline = time.monotonic() + 10  # the answer comes from the handler's timer thread
    while not run.answers("later") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [(r.ok, r.body) for r in run.answers("later")] == [(True, {"a": [1, 2]})]
    with pytest.raises(ZeroDivisionError):
        run_node(Tally, events=[call("broken")])

"""RemoteChild's state machine, with a fake clock and a recording link (no agent, no sockets).

Events are put in the inbox as the AgentLink thread would; `tick()` applies them. The
namespace test (tests/multihost/test_netns_agents.py) drives the real link and agents.
"""
from __future__ import annotations

import io

import pytest

from edge.config import ENV_VAR, NodeConfig
from edge.errors import FailedPrecondition, PermissionDenied, Unavailable
from edge.launch.hosts import HostSpec
from edge.launch.process import OutputPrinter
from edge.launch.remotechild import LOST_RETRY_S, RemoteChild
from edge.launch.restart import RestartPolicy

pytestmark = pytest.mark.timeout(10)


class Clock:
    def __init__(self):
        self.now = 50.0

    def __call__(self):
        return self.now


class RecordingLink:
    """What RemoteChild asks of an AgentLink: `children`, `host`, `peer_keys`, `call`."""

    def __init__(self):
        self.host, self.peer_keys = HostSpec("board", "10.0.0.2"), "[]"
        self.children: dict = {}
        self.sent: list = []

    def call(self, child, method, body, tag=None):
        self.sent.append((method, body, tag))


def remote_child(tmp_path=None, mode="on-failure", script=None):
    clock, link, logs = Clock(), RecordingLink(), []
    env = {ENV_VAR: NodeConfig(name="cam", type="ticker").to_json(), "HOME": "/x"}
    child = RemoteChild("cam", lambda: env, RestartPolicy(mode, 3, base_s=0.5), OutputPrinter(
        io.StringIO(), color=False), link, "tcp://10.0.0.1:5600", log=logs.append,
        script=script, clock=clock)
    return child, link, clock, logs


def started(child, link, pid):
    """The agent answers the last agent.start."""
    tag = link.sent[-1][2]
    child.inbox.put(("agent.start", (tag, {"pid": pid, "boot_id": "boot1"})))
    child.tick()


def test_start_exit_and_restart_policy():
    child, link, clock, logs = remote_child()
    child.start()
    method, body, tag = link.sent[-1]
    assert method == "agent.start" and "HOME" not in body["env"]   # only forwarded variables
    assert NodeConfig.from_json(body["config"]).control == "tcp://10.0.0.1:5600"
    assert child.state == "starting" and child.exit_polled is False and child.exit_fd is None
    started(child, link, 4242)
    assert child.mark_ready({"pid": 4242}) and child.describe()["host"] == "board"
    child.inbox.put(("exit", {"pid": 4242, "exit_code": -9}))
    child.tick()
    assert child.state == "backoff" and "was killed by SIGKILL; restarting in 0.50 s" in logs[-1]
    assert child.next_deadline() == clock.now + 0.5
    clock.now += 0.5
    child.tick()
    assert child.state == "starting" and child.restarts == 1 and len(link.sent) == 2


def test_ready_before_the_start_reply_and_a_stale_reply_after_a_restart():
    child, link, clock, _ = remote_child()
    child.start()
    first_tag = link.sent[-1][2]
    assert child.mark_ready({"pid": 7}) and child.pid == 7   # the handshake came first
    started(child, link, 7)
    child.restart(2.0)
    assert link.sent[-1][0] == "agent.stop" and child.state == "stopping"
    child.inbox.put(("exit", {"pid": 7, "exit_code": 0}))
    child.tick()
    assert child.state == "starting" and child.restarts == 1 and child.pid is None
    child.inbox.put(("agent.start", (first_tag, {"pid": 7, "boot_id": "boot1"})))  # stale
    child.tick()
    assert child.pid is None
    started(child, link, 8)
    assert child.pid == 8


def test_a_lost_agent_retries_until_it_answers():
    child, link, clock, logs = remote_child()
    child.start()
    started(child, link, 11)
    child.mark_ready({"pid": 11})
    child.inbox.put(("lost", ("the agent on host 'board' is not answering", "boot1")))
    child.tick()
    assert child.state == "backoff" and logs[-1].startswith("node 'cam' lost: the agent")
    clock.now += LOST_RETRY_S
    child.tick()
    assert child.state == "starting" and link.sent[-1][0] == "agent.start"
    child.inbox.put(("agent.start:failed", (link.sent[-1][2], Unavailable("timed out"))))
    child.tick()
    assert child.state == "backoff" and len(logs) == 1   # still down: again later, quietly
    clock.now += LOST_RETRY_S
    child.tick()
    started(child, link, 12)
    child.inbox.put(("lost", ("the agent on host 'board' restarted", "boot1")))
    child.tick()
    assert child.state == "backoff" and len(logs) == 2   # a new loss is told again


def test_a_run_the_agent_still_has_is_stopped_before_the_retry():
    """Lost for longer than the launcher waits but shorter than the agent's heartbeat: the
    agent still runs the old node, so the new start is refused until that one is stopped."""
    child, link, clock, logs = remote_child()
    child.start()
    started(child, link, 21)
    child.inbox.put(("lost", ("the agent on host 'board' is not answering", "boot1")))
    child.tick()
    clock.now += LOST_RETRY_S
    child.tick()
    child.inbox.put(("agent.start:failed", (link.sent[-1][2], FailedPrecondition(
        "node 'cam' is already running here (pid 21)"))))
    child.tick()
    assert link.sent[-1] == ("agent.stop", {"name": "cam", "grace_s": 0.0}, None)
    assert child.state == "backoff"
    clock.now += LOST_RETRY_S
    child.tick()
    started(child, link, 22)
    assert child.pid == 22 and child.state == "starting"


def test_an_agent_that_refuses_the_start_fails_the_node_in_one_line():
    child, link, _, logs = remote_child()
    child.start()
    child.inbox.put(("agent.start:failed", (link.sent[-1][2], PermissionDenied(
        "key 'laptop' has role read"))))
    child.tick()
    assert child.state == "failed" and logs == [
        "node 'cam' FAILED: the agent on host 'board' refused to start it: PERMISSION_DENIED: "
        "key 'laptop' has role read"]


def test_a_stop_the_agent_never_confirms_ends_at_its_deadline():
    child, link, clock, _ = remote_child()
    child.start()
    started(child, link, 5)
    child.stop(1.0)
    assert child.alive and child.next_deadline() == clock.now + 1.0 + 5.0
    clock.now += 6.0
    child.tick()
    assert child.state == "stopped" and not child.alive
    child.kill()   # nothing left to stop: nothing sent
    assert link.sent[-1][0] == "agent.stop" and len(link.sent) == 2


def test_a_script_type_is_sent_and_a_missing_one_fails_in_one_line(tmp_path):
    script = tmp_path / "my_node.py"
    script.write_text("print('hi')\n")
    child, link, _, _ = remote_child(script=script)
    child.start()
    assert link.sent[-1][1]["script"] == {"name": "my_node.py", "source": b"print('hi')\n"}
    script.unlink()
    child.restart(1.0)
    child.inbox.put(("agent.stop:failed", "NOT_FOUND: no node"))
    child.tick()
    assert child.state == "failed"

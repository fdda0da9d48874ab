"""Restart policy and the child state machine, with a fake clock and fake processes."""
from __future__ import annotations

import io

import pytest

from edge.launch.process import ChildProcess, OutputPrinter
from edge.launch.restart import RestartPolicy

pytestmark = pytest.mark.timeout(10)


def test_backoff_doubles_up_to_the_cap():
    policy = RestartPolicy("on-failure", 10, base_s=0.2, factor=2, cap_s=1.0)
    assert [policy.delay_s(n) for n in range(1, 6)] == [0.2, 0.4, 0.8, 1.0, 1.0]


def test_on_failure_gives_up_after_max_restarts_in_a_row():
    policy = RestartPolicy("on-failure", 2, base_s=0.5)
    first, second, third = (policy.after_exit(1, ran_s=0.1) for _ in range(3))
    assert (first.state, first.delay_s) == ("backoff", 0.5)
    assert (second.state, second.delay_s) == ("backoff", 1.0)
    assert third.state == "failed" and "max_restarts=2" in third.reason
    assert "exited with code 1" in third.reason


def test_a_stable_run_resets_the_count():
    policy = RestartPolicy("on-failure", 1, stable_s=10)
    assert policy.after_exit(-9, ran_s=1).state == "backoff"
    decision = policy.after_exit(-9, ran_s=60)
    assert decision.state == "backoff" and "SIGKILL" in decision.reason


def test_modes():
    assert RestartPolicy("on-failure").after_exit(0, 1).state == "exited"
    assert RestartPolicy("never").after_exit(0, 1).state == "exited"
    assert RestartPolicy("never").after_exit(2, 1).state == "failed"
    assert RestartPolicy("always").after_exit(0, 1).state == "backoff"
    assert RestartPolicy("on-failure", 0).after_exit(1, 1).state == "failed"
    with pytest.raises(ValueError):
        RestartPolicy("sometimes")


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class FakePopen:
    """Stands in for subprocess.Popen: no process, an exit code set by the test."""

    spawned: list = []

    def __init__(self, argv, **kwargs):
        self.pid = 1000 + len(FakePopen.spawned)
        self.returncode = None
        self.stdout = None
        FakePopen.spawned.append(self)

    def poll(self):
        return self.returncode


@pytest.fixture
def child():
    FakePopen.spawned = []
    clock = FakeClock()
    logs: list[str] = []
    proc = ChildProcess("cam", ["cam"], {}, RestartPolicy("on-failure", 2, base_s=0.5, cap_s=5),
                        OutputPrinter(io.StringIO(), color=False), log=logs.append, clock=clock,
                        popen=FakePopen)
    proc._signal = lambda signum: logs.append(f"signal {signum}")
    return proc, clock, logs


def test_crash_loop_backs_off_then_fails_without_sleeping(child):
    proc, clock, logs = child
    proc.start()
    assert proc.state == "starting" and proc.pid == 1000
    assert proc.mark_ready({"pid": 1000}) and proc.state == "running"
    delays = []
    for _ in range(3):
        FakePopen.spawned[-1].returncode = 1
        proc.tick()
        if proc.state == "failed":
            break
        assert proc.state == "backoff"
        delays.append(proc.restart_at - clock.now)
        clock.now += delays[-1] - 0.01
        proc.tick()
        assert proc.state == "backoff"  # not yet
        clock.now += 0.01
        proc.tick()
        assert proc.state == "starting"
    assert delays == [0.5, 1.0]
    assert proc.state == "failed" and proc.restarts == 2 and len(FakePopen.spawned) == 3
    assert "FAILED" in logs[-1] and "rest of the graph keeps running" in logs[-1]


def test_stop_escalates_stop_event_sigterm_sigkill(child):
    proc, clock, logs = child
    proc.start()
    proc.stop(grace_s=2.0)
    assert proc.state == "stopping" and logs[-1] == "signal 2"  # SIGINT: the stop event
    clock.now += 2.0
    proc.tick()
    assert logs[-1] == "signal 15"
    clock.now += 1.0
    proc.tick()
    assert logs[-1] == "signal 9"
    FakePopen.spawned[-1].returncode = -9
    proc.tick()
    assert proc.state == "stopped" and not proc.alive and proc.exit_code == -9


def test_restart_waits_for_the_stop_then_spawns(child):
    proc, clock, logs = child
    proc.start()
    proc.restart(grace_s=1.0)
    assert proc.state == "stopping"
    FakePopen.spawned[-1].returncode = 0
    proc.tick()
    assert proc.state == "starting" and proc.restarts == 1 and proc.pid == 1001


def test_stop_during_backoff_cancels_the_restart(child):
    proc, clock, logs = child
    proc.start()
    FakePopen.spawned[-1].returncode = 1
    proc.tick()
    assert proc.state == "backoff"
    proc.stop(grace_s=1.0)
    clock.now += 60
    proc.tick()
    assert proc.state == "stopped" and len(FakePopen.spawned) == 1


def test_a_late_ready_from_an_old_run_is_ignored(child):
    proc, clock, logs = child
    proc.start()
    FakePopen.spawned[-1].returncode = 1
    proc.tick()
    assert not proc.mark_ready({"pid": 1000}) and proc.state == "backoff"


def test_config_error_exit_is_failed_without_restart():
    policy = RestartPolicy("always", 5)
    decision = policy.after_exit(78, ran_s=0.5)
    assert decision.state == "failed" and "not restarted" in decision.reason
    assert policy.failures == 0

"""Regression: a stop signal delivered to a thread other than the main one (zmq's I/O
threads receive signals too) must still wake a node sleeping in a poll without timeout."""
from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.timeout(30)

NODE = """\
import signal, sys, threading, time
from edge import Node

node = Node("waiter", endpoint="ipc://{rt}/waiter.sock")
node.subscribe("never", endpoint="ipc://{rt}/nobody.sock")   # no timers: next_event polls forever

def signal_from_another_thread():
    deadline = time.monotonic() + 5
    main = threading.main_thread().ident
    while sys._current_frames()[main].f_code.co_name != "poll":   # main waits in its poll
        assert time.monotonic() < deadline, "the node never started polling"
        time.sleep(0.005)
    signal.pthread_kill(threading.get_ident(), signal.SIGINT)  # lands on this thread, not main
threading.Thread(target=signal_from_another_thread).start()
event = node.next_event()
print(event.kind, event.value == signal.SIGINT, flush=True)
node.close()
"""


def test_signal_on_another_thread_delivers_stop(rt_dir, edge_env):
    result = subprocess.run([sys.executable, "-c", NODE.format(rt=rt_dir)], env=edge_env,
                            capture_output=True, text=True, timeout=10)
    assert result.stdout.strip() == "stop True", result.stderr

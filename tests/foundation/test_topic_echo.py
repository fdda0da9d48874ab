"""`edge topic echo` on a topic nobody publishes says so instead of hanging silently."""
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

EDGE = str(Path(sys.executable).with_name("edge"))


@pytest.mark.timeout(60)
def test_echo_gives_up_after_its_timeout(short_dir):
    started = time.monotonic()
    done = subprocess.run([EDGE, "topic", "echo", "quiet/topic", "--endpoint",
                           f"ipc://{short_dir}/nobody.sock", "--timeout", "1"],
                          capture_output=True, text=True, timeout=30,
                          env={**os.environ, "EDGE_RUNTIME_DIR": short_dir})
    assert done.returncode == 1, done.stderr
    assert "no message on 'quiet/topic'" in done.stderr and "for 1s" in done.stderr
    assert time.monotonic() - started < 20


@pytest.mark.timeout(60)
def test_echo_without_timeout_says_it_is_waiting(short_dir):
    proc = subprocess.Popen([EDGE, "topic", "echo", "quiet/topic", "--endpoint",
                             f"ipc://{short_dir}/nobody.sock"], stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "EDGE_RUNTIME_DIR": short_dir})
    try:
        ready, _, _ = select.select([proc.stderr], [], [], 20)
        assert ready, "echo stayed silent"  # main: silent until killed
        line = proc.stderr.readline()
        assert "no message on 'quiet/topic'" in line and "waiting" in line
        assert proc.poll() is None  # still waiting
    finally:
        proc.kill()
        proc.wait(10)
        proc.stderr.close()

"""edge.signals.close_at_exit: the owner is closed at interpreter exit, once, and never by
a forked child (whose copies of the owner's zmq sockets must not be touched)."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import os, sys
sys.path.insert(0, sys.argv[1])
from edge.signals import close_at_exit

class Owner:
    pass

kept, closed_early = Owner(), Owner()
close_at_exit(kept, lambda owner: print("closed", os.getpid(), flush=True))
import atexit
atexit.unregister(close_at_exit(closed_early, lambda owner: print("early", flush=True)))
child = os.fork()
if child == 0:
    sys.exit(0)   # a normal exit: the child runs its atexit hooks too
os.waitpid(child, 0)
print("parent", os.getpid(), flush=True)
"""


@pytest.mark.timeout(30)
def test_the_owner_is_closed_at_exit_by_its_own_process_only():
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(ROOT)], capture_output=True,
                          text=True, timeout=20)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split()
    parent = lines[lines.index("parent") + 1]
    assert done.stdout.split("\n")[:2] == [f"parent {parent}", f"closed {parent}"]
    assert "early" not in done.stdout

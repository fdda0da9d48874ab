"""The allocator tuning a node applies at start, and its opt-outs (each in a fresh process)."""
import json
import os
import subprocess
import sys

import pytest

PROBE = ("import json, edge.memory.allocator as a; from edge import Node; "
         "Node('probe', handle_signals=False).close(); print(json.dumps(a._applied))")


def applied(**env) -> dict:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "EDGE_MALLOC"))}
    done = subprocess.run([sys.executable, "-c", PROBE], env={**full, **env}, capture_output=True,
                          text=True, timeout=30, check=True)
    return json.loads(done.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_a_node_raises_both_thresholds_at_start():
    from edge.memory.allocator import MMAP_THRESHOLD_BYTES, TRIM_THRESHOLD_BYTES

    assert applied() == {"malloc_mmap_threshold": MMAP_THRESHOLD_BYTES,
                         "malloc_trim_threshold": TRIM_THRESHOLD_BYTES}


def test_opt_out_and_explicit_glibc_settings_are_respected():
    assert applied(EDGE_MALLOC_TUNING="0") == {}
    assert "malloc_trim_threshold" not in applied(MALLOC_TRIM_THRESHOLD_="1000000")

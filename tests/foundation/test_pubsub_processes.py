"""Publisher and subscriber in separate processes, over ipc and tcp."""
import json

import pytest


def read(path):
    with open(path) as f:
        return json.load(f)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("transport", ["ipc", "tcp"])
def test_every_message_arrives_in_order(transport, spawn, short_dir, free_port):
    endpoint = f"ipc://{short_dir}/p.sock" if transport == "ipc" else f"tcp://127.0.0.1:{free_port}"
    sub_report, sync = f"{short_dir}/sub.json", f"ipc://{short_dir}/sync.sock"
    sub = spawn("sub", endpoint, 200, 0, 1000, sync, sub_report)
    pub = spawn("pub", endpoint, 200, 200, "[48, 64, 3]", sync)
    assert pub.wait(timeout=30) == 0 and sub.wait(timeout=30) == 0
    result = read(sub_report)
    assert result["received"] == list(range(200))
    assert result["dropped"] == 0 and result["stats"]["decode_errors"] == 0


@pytest.mark.timeout(60)
def test_slow_latest_only_subscriber_gets_newest_and_counts_drops(spawn, short_dir):
    endpoint = f"ipc://{short_dir}/p.sock"
    sub_report, sync = f"{short_dir}/sub.json", f"ipc://{short_dir}/sync.sock"
    # The subscriber spends 50 ms per frame; the publisher sends 200 frames at 200 Hz (1 s).
    sub = spawn("sub", endpoint, 10_000, 0.05, 1, sync, sub_report)
    pub = spawn("pub", endpoint, 200, 200, "[240, 320, 3]", sync)
    assert pub.wait(timeout=30) == 0 and sub.wait(timeout=30) == 0
    received, dropped = read(sub_report)["received"], read(sub_report)["dropped"]
    assert 5 <= len(received) < 100, received   # the publisher did not wait for it
    assert received == sorted(received)
    assert received[-1] == 199, "the last frame delivered must be the newest one published"
    # Everything not delivered between the first and the last frame was counted as dropped.
    assert dropped == received[-1] - received[0] + 1 - len(received)

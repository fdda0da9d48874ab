"""A socket per output: one output's big frames do not shrink the queue (HWM) of another's
small messages, so a burst of small ones behind a frame reaches a reader that keeps up."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge import Node
from edge.launch.loader import load
from edge.launch.wiring import plan

pytestmark = pytest.mark.timeout(60)

GRAPH = """\
name: mixed
nodes:
  - name: cam
    type: ticker
    outputs:
      image: {topic: cam/image, transport: zmq}
      boxes: {topic: cam/boxes, transport: zmq}
  - name: viewer
    type: relay
    inputs:
      image: {topic: cam/image, queue_size: 2}
      boxes: {topic: cam/boxes, queue_size: 1000}
"""


def test_small_messages_behind_a_big_frame_are_not_dropped(tmp_path, short_dir):
    (tmp_path / "mixed.yaml").write_text(GRAPH)
    graph = load(tmp_path / "mixed.yaml")
    wiring = plan(graph, Path(short_dir), f"ipc://{short_dir}/control.sock")
    cam_config, viewer_config = (wiring.config(node) for node in graph.nodes)
    assert cam_config.outputs["image"].endpoint != cam_config.outputs["boxes"].endpoint
    with Node(config=cam_config, handle_signals=False) as cam, \
            Node(config=viewer_config, handle_signals=False) as viewer:
        cam.bind_outputs()
        for output in ("image", "boxes"):  # past the slow-joiner window on both sockets
            while True:
                cam.publish(output, np.zeros(1, np.uint8))
                if viewer.next_event(timeout_s=0.05) is not None:
                    break
        while viewer.next_event(timeout_s=0.1) is not None:
            pass
        frame, boxes = np.zeros((1080, 1920, 3), np.uint8), 0
        for burst in range(1, 6):
            cam.publish("image", frame)  # sizes the image socket's HWM for 6 MB frames
            for index in range(50):
                cam.publish("boxes", np.full(4, index, np.float32))
            while boxes < 50 * burst:
                event = viewer.next_event(timeout_s=2.0)
                assert event is not None, viewer.stats()["inputs"]
                boxes += event.name == "boxes"
        stats = viewer.stats()["inputs"]["boxes"]
    assert boxes == 250 and stats["dropped"] == 0, stats

"""The pure pieces of the node types, without processes or sockets."""
import threading

import numpy as np
import pytest

from messages import Text
from nodes.camera.node import Pacer
from nodes.metrics import RateMeter, Window
from nodes.model_runner.flow import Credits
from nodes.model_runner.model import effective_parameters
from nodes.model_runner.pairing import FramePairs
from nodes.visualizer.overlay import draw
from nodes.visualizer.web import LatestFrame

pytestmark = pytest.mark.timeout(10)


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_pacer_keeps_a_fixed_grid_and_skips_missed_slots():
    clock = Clock()
    pacer = Pacer(0.1, clock)
    due = []
    for late_s in (0.003, 0.0, 0.02, 0.25, 0.0):   # frame work and wake-up delays
        clock.now += pacer.wait_s() + late_s
        due.append(round(clock.now, 3))
        pacer.advance()
    assert due == [100.003, 100.1, 100.22, 100.55, 100.6]   # no drift from late wake-ups
    assert pacer.skipped == 2                               # the 100.3 and 100.4 slots
    pacer.reset(0.0)
    assert pacer.wait_s() == 0.0


def test_frame_pairs_match_by_frame_id_and_stamp():
    pairs = FramePairs(frames_kept=3)
    assert pairs.add_frame((0, 10), "f0") is None
    assert pairs.add_result((0, 10), "r0") == ("f0", "r0")
    assert pairs.add_result((2, 30), "r2") is None          # its frame comes later
    assert pairs.add_frame((1, 20), "f1") is None
    assert pairs.add_frame((2, 30), "f2") == ("f2", "r2")
    assert pairs.add_result((1, 99), "other camera run") is None
    pairs.add_frame((4, 50), "f4")
    assert pairs.add_result((3, 40), "r3") is None          # frame 3 was never received
    assert pairs.unmatched == 1 and pairs.replaced == 1


def test_credits_hold_work_until_acknowledged_or_expired():
    clock = Clock()
    credits = Credits(limit=2, timeout_s=1.0, clock=clock)
    credits.sent(10)
    assert credits.available()
    credits.sent(20)
    assert not credits.available()
    credits.acknowledge(10)
    assert credits.available()
    credits.sent(30)
    clock.now += 1.5
    assert credits.available() and credits.expired == 2


def test_rate_meter_and_window():
    clock = Clock()
    meter = RateMeter(window_s=2.0, clock=clock)
    for _ in range(11):
        meter.tick()
        clock.now += 0.1
    assert meter.rate() == pytest.approx(10.0)
    window = Window(100)
    for value in range(1, 101):
        window.add(float(value))
    assert (window.percentile(50), window.percentile(99), window.mean()) == (50.0, 99.0, 50.5)


def test_alias_presets_fill_only_unset_parameters():
    params = effective_parameters({"model": "ppocr-det", "postprocess": "auto", "mean": [],
                                   "std": [0.2, 0.2, 0.2], "limit_side_len": 0,
                                   "size_multiple": 0})
    assert params["postprocess"] == "text_boxes" and params["mean"] == [0.5, 0.5, 0.5]
    assert params["std"] == [0.2, 0.2, 0.2] and params["size_multiple"] == 32
    plain = effective_parameters({"model": "x.onnx"})
    assert plain["postprocess"] == "raw" and plain["std"] == [1.0, 1.0, 1.0]


def test_overlay_draws_on_a_copy():
    frame = np.full((120, 160, 3), 200, np.uint8)
    frame.setflags(write=False)                               # like a received frame
    text = Text(["word"], np.array([[20, 40, 90, 70]], np.float32), frame_id=1)
    image = draw(frame, text, status=["camera 10 fps"])
    assert image.shape == frame.shape and (frame == 200).all()
    assert (image != 200).any(axis=2).sum() > 500


def test_latest_frame_slot_hands_the_newest_frame_across_threads():
    slot = LatestFrame()
    assert slot.next_after(0, 0.01) == (None, 0) and slot.watched()
    got = []
    reader = threading.Thread(target=lambda: got.append(slot.next_after(0, 5.0)))
    reader.start()
    slot.put(b"jpeg-1")
    reader.join(5.0)
    assert got == [(b"jpeg-1", 1)]
    slot.put(b"jpeg-2")
    slot.put(b"jpeg-3")
    assert slot.next_after(1, 0.01) == (b"jpeg-3", 3)
    slot.close()
    assert slot.next_after(3, 5.0) == (None, 3)

"""Bounded fuzzing in CI: atheris (coverage-guided) on each decoder, plus structured hypothesis.

EDGE_FUZZ_S sets atheris's seconds per target (default 20, so about 60 s in all; 0 skips it).
Long runs: `python fuzz/run.py all --runs 1000000`.
"""
import os
import subprocess
import sys
from pathlib import Path

import msgpack
import pytest
from hypothesis import given, settings, strategies as st

from fuzz.targets import TARGETS, bytes_from_frames, frames_from_bytes, seeds

ROOT = Path(__file__).resolve().parents[2]
FUZZ_S = int(os.environ.get("EDGE_FUZZ_S", "20"))


@pytest.mark.timeout(FUZZ_S * 3 + 60)
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_atheris_finds_nothing(target, tmp_path):
    pytest.importorskip("atheris")
    if FUZZ_S <= 0:
        pytest.skip("EDGE_FUZZ_S=0")
    run = subprocess.run([sys.executable, str(ROOT / "fuzz" / "run.py"), target,
                          "--seconds", str(FUZZ_S), "--artifacts", str(tmp_path)],
                         capture_output=True, text=True, timeout=FUZZ_S * 3 + 30)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]


def test_seeds_round_trip_through_the_frame_split():
    for target, inputs in seeds().items():
        for data in inputs:
            assert bytes_from_frames(frames_from_bytes(data)) == data
            TARGETS[target](data)


scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**64 - 1), st.floats(),
                    st.text(max_size=8), st.binary(max_size=8))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=20)
TYPES = ["", "Image", "Detections", "Text", "Classification", "TensorMap", "TensorSpec", "Dim",
         "ModelMetadata", "ModelInfo", "Stats", "Nope"]


@settings(max_examples=400, deadline=1000)
@given(type_name=st.sampled_from(TYPES), body=values, seq=st.integers(-1, 2**64 - 1),
       buffers=st.lists(st.binary(max_size=16), max_size=3))
def test_structured_stream_headers_raise_only_decode_errors(type_name, body, seq, buffers):
    header = {"v": 1, "type": type_name, "seq": seq, "stamp_ns": 1, "pub_ns": 1, "src": "x",
              "body": body}
    TARGETS["stream"](bytes_from_frames([b"t", msgpack.packb(header), *buffers]))


@settings(max_examples=300, deadline=1000)
@given(header=values, buffers=st.lists(st.binary(max_size=16), max_size=3))
def test_structured_requests_and_replies_raise_only_decode_errors(header, buffers):
    data = bytes_from_frames([msgpack.packb(header), *buffers])
    TARGETS["request"](data)
    TARGETS["reply"](data)

"""Bounded fuzzing in CI: atheris (coverage-guided) on each decoder, plus structured hypothesis.

EDGE_FUZZ_S sets atheris's seconds per target (default 5, so about 20 s in all; 0 skips it).
atheris comes with the `test` extra on x86_64 Linux (a manylinux wheel); elsewhere it skips.
Long runs: `python fuzz/run.py all --runs 1000000`.
"""
import os
import subprocess
import sys
from pathlib import Path

from dataclasses import fields

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from fuzz.targets import FRAME_TARGETS, TARGETS, bytes_from_frames, frames_from_bytes, seeds
from messages import SCHEMAS, new_encoder

ROOT = Path(__file__).resolve().parents[2]
FUZZ_S = int(os.environ.get("EDGE_FUZZ_S", "5"))
# a decode slower than this is a hang; tighter wall-clock bounds fail under load (hypothesis
# reruns a slow example, finds it fast and reports the timing as Flaky)
EXAMPLE_DEADLINE_MS = 10_000
HANG_S = 5  # an input slower than this is a hang; 1 s (run.py's default) is too tight under load


@pytest.mark.timeout(FUZZ_S * 3 + 60)
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_atheris_finds_nothing(target, tmp_path):
    pytest.importorskip("atheris", reason="atheris is not installed: the `test` extra brings it "
                        "on x86_64 Linux only, where PyPI has a wheel")
    if FUZZ_S <= 0:
        pytest.skip("EDGE_FUZZ_S=0")
    run = subprocess.run([sys.executable, str(ROOT / "fuzz" / "run.py"), target,
                          "--seconds", str(FUZZ_S), "--timeout-s", str(HANG_S),
                          "--corpus", str(tmp_path / "corpus"), "--artifacts", str(tmp_path)],
                         capture_output=True, text=True, timeout=FUZZ_S * 3 + 30)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]


def test_seeds_round_trip_through_the_frame_split():
    for target, inputs in seeds().items():
        for data in inputs:
            if target in FRAME_TARGETS:
                assert bytes_from_frames(frames_from_bytes(data)) == data
            TARGETS[target](data)


# Schema-aware values: the fields of every typed body, with dtype-like strings and maps and
# boundary integers where numpy or our checks branch (coverage cannot see into numpy).
FIELDS = sorted({f.name for schema in SCHEMAS.values() for f in fields(schema)})
OFFSETS = st.sampled_from([0, -1, 2**63, 2**64 - 1]) | st.integers(-2**63, 2**64 - 1)
dtype_like = (st.sampled_from([",", "f4,i4", "<f4\n", "O", "float32", "<f4", "(2)f4", "S3", "V8",
                               "M8[ns]", "uint8", ">c16", "b1", "float", "int"])
              | st.text(alphabet="<>|=,()[]fiucbOSUVMm0123456789 \n", max_size=8)
              | st.fixed_dictionaries({"names": st.just(["a"]), "formats": st.just(["<f4"]),
                                       "offsets": st.lists(OFFSETS, min_size=1, max_size=1)}))
scalars = st.one_of(st.none(), st.booleans(), st.sampled_from([0, 1, -1, 2**31, 2**63, 2**64 - 1]),
                    st.integers(-2**63, 2**64 - 1), st.floats(), st.text(max_size=8),
                    st.binary(max_size=8), dtype_like,
                    hnp.arrays(st.sampled_from(["|u1", "<f4", "<i4", ">f8", "|b1"]),
                               hnp.array_shapes(min_dims=0, max_dims=3, max_side=3)))
spec_like = st.fixed_dictionaries({"name": st.text(max_size=3), "dtype": dtype_like},
                                  optional={"shape": st.lists(st.fixed_dictionaries(
                                      {}, optional={"size": scalars, "dynamic": scalars}),
                                      max_size=2)})
values = st.recursive(scalars | spec_like, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=4), inner,
                                        max_size=5), max_leaves=24)
TYPES = sorted(SCHEMAS) + ["", "Nope"]


def _likely(annotation: str):
    """Mostly well-typed values, so checks further down the validator are reached too."""
    for word, strategy in (("str", st.text(max_size=4)), ("int", st.integers(-1, 4)),
                           ("bool", st.booleans()), ("list", st.lists(spec_like, max_size=2)),
                           ("dict", st.dictionaries(st.text(max_size=3), scalars, max_size=2)),
                           ("ndarray", scalars), ("ModelMetadata", st.fixed_dictionaries({}))):
        if word in str(annotation):
            return strategy
    return values


def body_for(type_name):
    """A map of the type's own fields (any may be missing), or any value."""
    if type_name not in SCHEMAS:
        return values
    likely = {f.name: dtype_like if f.name == "dtype" else _likely(f.type)
              for f in fields(SCHEMAS[type_name])}
    optional = {name: strategy | values for name, strategy in likely.items()}
    return st.fixed_dictionaries(likely) | st.fixed_dictionaries({}, optional=optional) | values


@pytest.mark.timeout(180)
@settings(max_examples=int(os.environ.get("EDGE_FUZZ_EXAMPLES", "600")),
          deadline=EXAMPLE_DEADLINE_MS,
          suppress_health_check=list(HealthCheck))
@given(data=st.data(), seq=st.integers(-1, 2**64 - 1))
def test_schema_aware_stream_messages_raise_only_decode_errors(data, seq):
    type_name = data.draw(st.sampled_from(TYPES))
    header = {"v": 1, "type": type_name, "seq": seq, "stamp_ns": 1, "pub_ns": 1, "src": "x",
              "body": data.draw(body_for(type_name))}
    packed, buffers = new_encoder().pack(header)
    TARGETS["stream"](bytes_from_frames([b"t", packed, *buffers]))


@settings(max_examples=300, deadline=EXAMPLE_DEADLINE_MS, suppress_health_check=list(HealthCheck))
@given(header=values)
def test_structured_requests_and_replies_raise_only_decode_errors(header):
    packed, buffers = new_encoder().pack(header)
    data = bytes_from_frames([packed, *buffers])
    TARGETS["request"](data)
    TARGETS["reply"](data)

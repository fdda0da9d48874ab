"""State is handed in, never picked up: a launched node's config, bound sockets, schema names."""
from __future__ import annotations

import json
import re
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from edge import Node, NodeConfig
from edge.nodetype import Param, check_live_value, plain_value_problem
from edge.errors import FailedPrecondition, InvalidArgument, NotFound
from messages import SCHEMAS, Image, Schema

pytestmark = pytest.mark.timeout(30)
ROOT = Path(__file__).resolve().parents[2]


def test_reading_endpoints_binds_nothing(short_dir):
    endpoint = f"ipc://{short_dir}/out.sock"
    with Node("quiet", outputs={"o": "topic/o"}, endpoint=endpoint, handle_signals=False) as node:
        assert node.endpoints == {}
        assert not os.path.exists(f"{short_dir}/out.sock")
        node.bind_outputs()
        assert node.endpoints == {"topic/o": endpoint} and os.path.exists(f"{short_dir}/out.sock")


def test_launched_is_said_by_the_config_handed_in(short_dir):
    launched = NodeConfig(name="n", launched=True, endpoint=f"ipc://{short_dir}/n.sock")
    with Node(config=launched, handle_signals=False) as node:
        assert node.launched
    with Node(config=NodeConfig(name="m"), handle_signals=False) as node:
        assert not node.launched
    assert json.loads(launched.to_json())["launched"] is True


def test_an_inherited_node_config_does_not_make_an_adhoc_node_launched(short_dir):
    """A process a launched node started inherits nothing that makes it that node."""
    config = NodeConfig(name="camera", control=f"ipc://{short_dir}/control.sock").to_json()
    code = ("from edge import Node\nnode = Node('probe', handle_signals=False)\n"
            "print(node.name, node.launched, node.config.control)\nnode.close()\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=30, cwd=ROOT,
                            env={**os.environ, "EDGE_NODE_CONFIG": config,
                                 "EDGE_RUNTIME_DIR": short_dir})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["probe", "False", "None"]


def test_edge_run_takes_the_config_out_of_the_environment():
    config = NodeConfig(name="t", type="ticker", parameters={"count": 1, "rate_hz": 100})
    code = ("import os, sys\nfrom edge.config import NodeConfig\n"
            "config = NodeConfig.take_from_env()\n"
            "print(config.name, config.launched, 'EDGE_NODE_CONFIG' in os.environ)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=30, cwd=ROOT, env={**os.environ, "EDGE_NODE_CONFIG": config.to_json()})
    assert result.stdout.split() == ["t", "True", "False"], result.stderr


def test_a_second_schema_under_a_taken_name_fails_loudly():
    with pytest.raises(TypeError, match="message type 'Image' of .*Impostor is already "
                                        "registered by messages.vision.Image"):
        @dataclass
        class Impostor(Schema):
            TYPE = "Image"
            data: bytes = b""
    assert SCHEMAS["Image"] is Image


@pytest.mark.parametrize("value,why", [
    (float("inf"), "finite"), (float("nan"), "finite"), (b"x", "bytes is not"),
    ([1, [2, float("-inf")]], "finite"), ({"a": {1: 2}}, "map keys must be strings"),
    (1 << 70, "64-bit"), (object(), "object is not"),
])
def test_values_json_and_msgpack_cannot_both_carry_are_not_parameter_values(value, why):
    assert why in plain_value_problem(value)


def test_live_values_are_checked_against_type_range_and_choices():
    specs = {"rate_hz": Param(float, 1.0, runtime=True, minimum=0.5, maximum=10),
             "mode": Param(str, "a", runtime=True, choices=("a", "b")), "path": Param(str, "")}
    assert check_live_value("n", specs, "rate_hz", 2) == 2.0
    assert plain_value_problem([1, "x", {"k": None, "f": 0.5}]) is None
    for key, value, error, why in [
            ("rate_hz", 0.1, InvalidArgument, "at least 0.5"),
            ("rate_hz", 11, InvalidArgument, "at most 10"),
            ("rate_hz", float("inf"), InvalidArgument, "finite"),
            ("mode", "c", InvalidArgument, "one of ['a', 'b']"),
            ("path", "/x", FailedPrecondition, "cannot be changed at run time"),
            ("nope", 1, NotFound, "no parameter 'nope'")]:
        with pytest.raises(error, match=re.escape(why)):
            check_live_value("n", specs, key, value)
    assert check_live_value("script", None, "anything", [1]) == [1]

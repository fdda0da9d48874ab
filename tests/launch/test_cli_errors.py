"""The CLI: expected errors are one line, a bug keeps its traceback; commands load lazily."""
from __future__ import annotations

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from edge.cli import BUG_HINT, EXIT_BUG, main
from edge.errors import Unavailable

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def with_command():
    added = []

    def add(command: click.Command) -> None:
        main.add_command(command)
        added.append(command.name)
    yield add
    for name in added:
        main.commands.pop(name, None)


def test_an_edge_error_is_one_line_and_exit_code_1(with_command):
    @click.command("unreachable-peer")
    def unreachable() -> None:
        raise Unavailable("no reply from tcp://robot:5550 to 'nodes' after 2 attempt(s)")
    with_command(unreachable)
    result = CliRunner().invoke(main, ["unreachable-peer"])
    assert result.exit_code == 1
    assert result.output == "error: UNAVAILABLE: no reply from tcp://robot:5550 to 'nodes' " \
                            "after 2 attempt(s)\n"


@pytest.mark.parametrize("error", [ValueError("bad"), OSError(5, "I/O"), KeyError("k")])
def test_a_bug_keeps_its_traceback_and_asks_for_a_report(with_command, error):
    @click.command("buggy")
    def buggy() -> None:
        raise error
    with_command(buggy)
    result = CliRunner().invoke(main, ["buggy"])
    assert result.exit_code == EXIT_BUG
    assert "Traceback (most recent call last)" in result.output
    assert f"{type(error).__name__}" in result.output and BUG_HINT in result.output


def test_bad_usage_is_clicks_usage_error():
    result = CliRunner().invoke(main, ["param", "set", "only-node"])
    assert result.exit_code == 2 and "Missing argument 'KEY'" in result.output


def test_the_old_option_name_still_works_with_a_note(rt_dir, edge_env):
    result = subprocess.run([sys.executable, "-m", "edge.cli", "nodes", "-e", "nowhere"],
                            env=edge_env, capture_output=True, text=True, timeout=30)
    assert result.stderr.splitlines() == [
        "note: --endpoint/-e is now --control/-c; the old name goes away in the next release",
        "error: INVALID_ARGUMENT: bad endpoint 'nowhere': invalid argument (expected e.g. "
        "tcp://host:port or ipc:///path)"]
    assert result.returncode == 1


def test_a_command_loads_only_its_own_modules():
    code = ("import sys\nfrom edge.cli import main\n"
            "main(['nodes', '--help'], standalone_mode=False)\n"
            "print(sorted(m for m in ('onnxruntime', 'onnx', 'cv2', 'edge.launch.supervisor',"
            " 'nodes.model_manager') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("args", [["call", "garbage", "ping"], ["nodes", "--control", "foo://x"]])
def test_a_bad_endpoint_is_bad_input_not_a_bug(args):
    result = subprocess.run([sys.executable, "-m", "edge.cli", *args], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: INVALID_ARGUMENT: bad endpoint ")


def test_bytes_that_will_not_decode_are_bad_input(with_command):
    from messages import DecodeError

    @click.command("corrupt")
    def corrupt() -> None:
        raise DecodeError("recording.mcap: not an MCAP file")
    with_command(corrupt)
    result = CliRunner().invoke(main, ["corrupt"])
    assert result.exit_code == 1 and result.output == "error: recording.mcap: not an MCAP file\n"

"""`edge model regress`: a candidate model on a model_runner's recorded inputs and outputs.

The launch file says which node it is: its type, parameters and topics. Every recorded
output of that node is paired with the recorded input(s) of the same capture stamp; the
candidate model, with the node's own pre- and postprocessing, runs on those inputs, and
its result is compared with what the node published (nodes.model_runner.agreement).
"""
from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Optional

import click

from edge.errors import ConfigError, InvalidArgument
from nodes.model_runner.agreement import Agreement, Thresholds

FRAMES_KEPT = 256     # recorded inputs waiting for the output of the same stamp


def regress(bag_path: Path, launch_path: Path, node_name: str, model: str,
            model_manager: Optional[str] = None, max_frames: int = 0) -> Agreement:
    """Run `model` where node `node_name` ran, on what the recording holds."""
    from edge import bag      # here, not at the top: `edge model list` need not load onnxruntime
    from edge.launch.loader import load
    from nodes.model_runner.contract import IMAGE_PORT
    from nodes.model_runner.model import effective_parameters, locate_model, read_model
    from nodes.model_runner.node import ModelRunner, build_task, model_problems

    node = load(launch_path).node(node_name)
    if node is None or node.type not in ("model_runner", "model_shadow"):
        raise InvalidArgument(f"{launch_path}: no model_runner node named {node_name!r}")
    params, problems = ModelRunner.resolve_parameters(node.parameters)
    if problems:
        raise InvalidArgument(f"node {node_name!r}: " + "; ".join(problems))
    params = effective_parameters({**params, "model": model,
                                   **({"model_manager": model_manager} if model_manager else {})})
    candidate = read_model(locate_model(params))
    problems = model_problems(candidate, params["postprocess"], IMAGE_PORT)
    if problems:
        raise ConfigError(f"{model}: " + "; ".join(problems), "INVALID_ARGUMENT")
    task = build_task(candidate, params)
    topics = _topics(node, params["postprocess"])
    return _compare(bag.read_messages(str(bag_path), topics=list(topics.values())), topics, task,
                    max_frames)


def _topics(node, postprocess: str) -> dict:
    from nodes.model_runner.node import OUTPUT_OF

    wanted = {"image": "image", "output": OUTPUT_OF[postprocess]}
    if postprocess == "ctc_text":
        wanted["boxes"] = "boxes"
    found = {}
    for role, port in wanted.items():
        ports = node.outputs if role == "output" else {k: v.topic for k, v in node.inputs.items()}
        if port not in ports:
            raise InvalidArgument(f"node {node.name!r} has no {port!r} "
                                  f"{'output' if role == 'output' else 'input'} connected")
        found[role] = ports[port]
    return found


def _compare(messages, topics: dict, task, max_frames: int) -> Agreement:
    agreement = Agreement()
    kept = {role: collections.OrderedDict() for role in topics if role != "output"}
    role_of = {topic: role for role, topic in topics.items()}
    for item in messages:
        role, stamp_ns = role_of[item.topic], item.message.stamp_ns
        if role != "output":
            kept[role][stamp_ns] = item.value
            while len(kept[role]) > FRAMES_KEPT:
                kept[role].popitem(last=False)
            continue
        inputs = [kept[r].get(stamp_ns) for r in ("image", "boxes") if r in kept]
        if any(value is None for value in inputs):
            agreement.skipped += 1          # the recording missed this output's input
            continue
        agreement.add(item.value, task(*inputs), getattr(item.value, "frame_id", 0))
        if max_frames and agreement.frames >= max_frames:
            break
    return agreement


@click.command(name="regress")
@click.argument("recording", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--launch", "launch_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="the launch file the recording was made with")
@click.option("--node", "node_name", required=True, help="the model_runner node to replay")
@click.option("--model", required=True, help="the candidate: an .onnx path, alias or a uid")
@click.option("--model-manager", default=None, metavar="ENDPOINT",
              help="fetch --model (a uid or name) from this model manager")
@click.option("--max-mismatch-rate", type=float, default=Thresholds.max_mismatch_rate,
              show_default=True, help="tensors: elements outside tolerance, at most")
@click.option("--min-box-iou", type=float, default=Thresholds.min_box_iou, show_default=True)
@click.option("--min-text-agreement", type=float, default=Thresholds.min_text_agreement,
              show_default=True)
@click.option("--min-top1-agreement", type=float, default=Thresholds.min_top1_agreement,
              show_default=True)
@click.option("--max-frames", type=int, default=0, help="compare at most this many (0: all)")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="also write the comparison here")
def regress_command(recording: Path, launch_path: Path, node_name: str, model: str,
                    model_manager: Optional[str], max_mismatch_rate: float, min_box_iou: float,
                    min_text_agreement: float, min_top1_agreement: float, max_frames: int,
                    json_path: Optional[Path]) -> None:
    """Run a candidate model on a node's recorded inputs and compare with its recorded outputs.

    Exits 0 when every measure is within its threshold, 1 when not (for CI).
    """
    summary = regress(recording, launch_path, node_name, model, model_manager,
                      max_frames).summary()
    thresholds = Thresholds(max_mismatch_rate, min_box_iou, min_text_agreement,
                            min_top1_agreement)
    failures = thresholds.failures(summary)
    for line in _report(summary):
        click.echo(line)
    if json_path:
        json_path.write_text(json.dumps({**summary, "failures": failures}, indent=1) + "\n")
    for failure in failures:
        click.echo(f"FAIL: {failure}")
    click.echo("PASS" if not failures else "FAIL")
    raise SystemExit(1 if failures else 0)


def _report(summary: dict) -> list[str]:
    lines = [f"frames compared: {summary['frames']} (skipped {summary['skipped']})"]
    for key in ("max_abs_diff", "mismatch_rate", "mean_box_iou", "text_agreement",
                "top1_agreement"):
        if summary[key] is not None:
            lines.append(f"{key}: {summary[key]:.6g}")
    for name, tensor in summary["tensors"].items():
        lines.append(f"  tensor {name}: max_abs_diff {tensor['max_abs_diff']} "
                     f"mismatch_rate {tensor['mismatch_rate']}")
    for sample in summary["samples"]:
        lines.append(f"  frame {sample['frame_id']}: recorded {sample['reference']} "
                     f"vs candidate {sample['candidate']}")
    return lines

"""Kenning's runner classes read as our node types, so a KenningFlow JSON runs as written.

A runner whose `type` is one of Kenning's classes with a counterpart here is rewritten into
that node type: its parameters, and its local input and output names, are mapped to ours.
A Kenning class without a counterpart, or a parameter this mapping does not know, is a
Problem naming it: nothing is silently dropped.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Optional

from messages.codec import short

Issues = list[tuple[str, str]]              # (key, message)
ParamMap = Callable[[dict, Issues], dict]   # Kenning parameters -> ours

CAMERA = "kenning.dataproviders.camera_dataprovider.CameraDataProvider"
MODEL = "kenning.runners.modelruntime_runner.ModelRuntimeRunner"
ONNX_RUNTIME = "kenning.runtimes.onnx.ONNXRuntime"
VISUALIZERS = "kenning.outputcollectors.real_time_visualizers."
FRAME_KEYS = ("input_memory_layout", "input_color_format")   # how frames are laid out


@dataclass(frozen=True)
class Counterpart:
    type: str
    inputs: dict
    outputs: Optional[dict]     # None: the one output goes to the port `params` chose
    params: ParamMap


def is_kenning(type_name: Any) -> bool:
    return isinstance(type_name, str) and type_name.startswith("kenning.")


def translate(node: dict) -> tuple[dict, Issues]:
    """`node` (a flow entry with a Kenning type) as one of ours, and what could not be mapped."""
    issues: Issues = []
    kind = node["type"]
    counterpart = COUNTERPARTS.get(kind)
    if counterpart is None:
        known = ", ".join(sorted(c.rsplit(".", 1)[-1] for c in COUNTERPARTS))
        return node, [("type", f"Kenning runner {kind} has no counterpart here "
                               f"(mapped Kenning runners: {known})")]
    params = node.get("parameters") or {}
    ours = counterpart.params(dict(params) if isinstance(params, dict) else {}, issues)
    outputs = counterpart.outputs or {"*": _MODEL_OUTPUTS[ours.get("postprocess", "raw")]}
    translated = type(node)(node)
    translated.__dict__.update(node.__dict__)           # a LineDict's line numbers
    translated.update(type=counterpart.type, parameters=ours,
                      inputs=_ports(node.get("inputs"), counterpart.inputs, "inputs", issues),
                      outputs=_ports(node.get("outputs"), outputs, "outputs", issues))
    return translated, issues


def _ports(given: Any, names: dict, section: str, issues: Issues) -> Any:
    if not isinstance(given, dict):
        return given                                    # the loader reports a malformed one
    ported = {}
    for local, topic in given.items():
        ours = names.get(local, names.get("*"))
        if ours is None or ours in ported:
            why = "has no counterpart" if ours is None else f"is a second {ours!r}"
            issues.append((f"{section}.{local}", f"Kenning {section[:-1]} {short(local)} {why} "
                                                 f"(mapped: {', '.join(names)})"))
            continue
        ported[ours] = topic
    return ported


def _take(params: dict, issues: Issues, mapping: dict, accepted: tuple = ()) -> dict:
    """Rename known keys; `accepted` keys are understood and need nothing here."""
    ours = {mapping[k]: v for k, v in params.items() if k in mapping}
    for key in params.keys() - mapping.keys() - set(accepted):
        issues.append((f"parameters.{key}", f"Kenning parameter {short(key)} has no counterpart"))
    return ours


def _frames(params: dict, issues: Issues) -> None:
    """Frames are HWC BGR here; the model runner lays them out for its model (layout auto)."""
    color = params.get("input_color_format", "BGR")
    if str(color).upper() != "BGR":
        issues.append(("parameters.input_color_format",
                       f"frames are BGR here, got {short(color)}; set the model runner's "
                       "channel_order instead"))


def _camera(params: dict, issues: Issues) -> dict:
    _frames(params, issues)
    ours = _take(params, issues, {"video_file_path": "source", "input_width": "width",
                                  "input_height": "height"}, FRAME_KEYS)
    device = re.fullmatch(r"/dev/video(\d+)", str(ours.get("source", "")))
    if device:
        ours["source"] = int(device.group(1))
    elif "source" in ours:
        ours["loop"] = True      # a camera does not run out: a file or folder starts again
    return ours


def _section(params: dict, key: str, issues: Issues) -> tuple[dict, dict]:
    """A nested Kenning object's (`{type, parameters}`) type side and its parameters; a part
    that is not a map is a problem and reads as empty."""
    section = params.get(key) or {}
    if not isinstance(section, dict):
        issues.append((f"parameters.{key}", f"must be a map of type and parameters, "
                                            f"got {short(section)}"))
        return {}, {}
    inner = section.get("parameters") or {}
    if not isinstance(inner, dict):
        issues.append((f"parameters.{key}.parameters", f"must be a map, got {short(inner)}"))
        inner = {}
    return section, inner


def _model(params: dict, issues: Issues) -> dict:
    wrapper, wrapper_params = _section(params, "model_wrapper", issues)
    runtime, runtime_params = _section(params, "runtime", issues)
    for key in params.keys() - {"model_wrapper", "runtime", "dataset"}:
        issues.append((f"parameters.{key}", f"Kenning parameter {short(key)} has no counterpart"))
    if runtime.get("type", ONNX_RUNTIME) != ONNX_RUNTIME:
        issues.append(("parameters.runtime", f"runtime {short(runtime.get('type'))} has no "
                                             f"counterpart (models run with {ONNX_RUNTIME})"))
    model = runtime_params.get("save_model_path") or wrapper_params.get("model_path")
    if not model:
        issues.append(("parameters.model_wrapper", "no model path: set the model wrapper's "
                                                   "model_path or the runtime's save_model_path"))
    classifier = ".classification." in str(wrapper.get("type", ""))
    return {"model": model or "", "postprocess": "softmax_topk" if classifier else "raw"}


def _visualizer(params: dict, issues: Issues) -> dict:
    _frames(params, issues)
    ours = _take(params, issues, {"save_path": "video_file"},
                 (*FRAME_KEYS, "viewer_width", "viewer_height", "save_to_file", "save_fps",
                  "window_name"))
    if not params.get("save_to_file", False):
        ours.pop("video_file", None)
    return ours


_MODEL_OUTPUTS = {"softmax_topk": "classes", "raw": "tensors"}
COUNTERPARTS = {
    CAMERA: Counterpart("camera", {}, {"frame": "image"}, _camera),
    MODEL: Counterpart("model_runner", {"input": "image"}, None, _model),
    VISUALIZERS + "RealTimeDetectionVisualizer": Counterpart(
        "visualizer", {"frame": "image", "detection_data": "detections"}, {}, _visualizer),
}

"""Does a model fit what feeds it? Checked before a process starts, and again when it does.

A model_runner turns each uint8 H x W x 3 frame into one tensor batch, so the model must
take exactly one 4-d image input with 3 channels in a dtype the preprocessing produces,
and its outputs must have the shape its postprocessor reads. Height and width are free:
preprocessing resizes to fixed dims and rounds dynamic ones.
"""
from __future__ import annotations

from typing import Optional

from edge.nodetype import Port
from messages.tensors import TensorSpec
from nodes.inference.preprocess import INPUT_DTYPES
from nodes.ocr.recognition import REC_HEIGHT_PX

IMAGE_PORT = Port("Image", dtype="uint8", shape=["height", "width", 3],
                  help="frames to run the model on (bgr8)")
BOXES_PORT = Port("Detections", help="ctc_text only: text boxes of a frame, matched to the "
                                     "`image` input by frame_id and stamp_ns")
CHANNELS = 3


def image_layout(spec: TensorSpec) -> str:
    """"nhwc" when the last dim is the 3-channel one and the second is not, else "nchw"."""
    dims = spec.shape or []
    if len(dims) == 4 and dims[3].size == CHANNELS and dims[1].size != CHANNELS:
        return "nhwc"
    return "nchw"


def check_model_input(inputs: list[TensorSpec], postprocess: str,
                      producer: Optional[Port] = None) -> list[str]:
    """Why frames from `producer` cannot feed a model with these inputs; [] if they can."""
    if len(inputs) != 1:
        names = ", ".join(repr(s.name) for s in inputs) or "none"
        return [f"model has {len(inputs)} inputs ({names}); model_runner feeds exactly one "
                "image tensor"]
    spec = inputs[0]
    where = f"model input {spec.name!r} {spec.dtype}{spec.shape_text()}"
    problems = []
    if spec.dtype not in INPUT_DTYPES:
        problems.append(f"{where}: dtype must be one of {', '.join(INPUT_DTYPES)}")
    if spec.shape is None or len(spec.shape) != 4:
        return problems + [f"{where} is not an image batch: model_runner feeds "
                           "[1, 3, height, width] (nchw) or [1, height, width, 3] (nhwc)"]
    layout = image_layout(spec)
    batch, channels = spec.shape[0], spec.shape[1 if layout == "nchw" else 3]
    height = spec.shape[2 if layout == "nchw" else 1]
    if not batch.dynamic and batch.size != 1 and postprocess != "ctc_text":
        problems.append(f"{where}: batch dim is {batch.size}, model_runner sends one frame")
    if not channels.dynamic and channels.size != CHANNELS:
        problems.append(f"{where}: expects {channels.size} channel(s), frames have {CHANNELS}")
    if postprocess == "ctc_text" and not height.dynamic and height.size != REC_HEIGHT_PX:
        problems.append(f"{where}: ctc_text crops text lines to height {REC_HEIGHT_PX}, "
                        f"the model wants {height.size}")
    if producer is not None:
        problems += check_producer("image", IMAGE_PORT, producer)
    return problems


def check_model_output(outputs: list[TensorSpec], postprocess: str,
                       metadata: dict[str, str]) -> list[str]:
    """Why this postprocessor cannot read these outputs; [] if it can."""
    first = outputs[0]
    where = f"model output {first.name!r} {first.dtype}{first.shape_text()}"
    rank = None if first.shape is None else len(first.shape)
    if postprocess == "text_boxes" and rank not in (None, 3, 4):
        return [f"{where}: text_boxes needs a probability map [1, 1, H, W] or [1, H, W]"]
    if postprocess == "text_boxes" and rank == 4 and first.shape[1].size not in (None, 1):
        return [f"{where}: text_boxes needs a single-channel probability map"]
    if postprocess == "ctc_text":
        if "character" not in metadata:
            return ["model has no 'character' metadata: ctc_text needs the model's alphabet"]
        if rank not in (None, 3):
            return [f"{where}: ctc_text needs per-step class probabilities [N, T, classes]"]
    if postprocess == "softmax_topk" and rank is not None and rank > 2 \
            and any(d.size != 1 for d in first.shape[2:]):
        return [f"{where}: softmax_topk needs class scores [1, classes]"]
    return []


def check_producer(local: str, expected: Port, producer: Port) -> list[str]:
    """Schema, dtype and fixed channel count of a producer's port against our input."""
    problems = []
    if producer.schema and expected.schema and producer.schema != expected.schema:
        problems.append(f"input {local!r} needs {expected.schema} messages, its producer "
                        f"publishes {producer.schema}")
    if producer.dtype and expected.dtype and producer.dtype != expected.dtype:
        problems.append(f"input {local!r} needs dtype {expected.dtype}, its producer "
                        f"publishes {producer.dtype}")
    if producer.shape and expected.shape:
        if len(producer.shape) != len(expected.shape):
            problems.append(f"input {local!r} needs shape {expected.shape}, its producer "
                            f"publishes {producer.shape}")
        elif isinstance(producer.shape[-1], int) and producer.shape[-1] != expected.shape[-1]:
            problems.append(f"input {local!r} needs {expected.shape[-1]} channels, its "
                            f"producer publishes {producer.shape[-1]}")
    return problems

"""The `model_runner` node type: an ONNX model on a stream of frames.

Inputs are latest-only by default: after each inference the node takes the newest frame
and counts the ones it skipped, so it never works on a stale frame. Results carry the
frame's `stamp_ns` and `frame_id`. The model is checked against its input port when the
node starts, and `check_inputs` lets a launcher run the same check before starting it.
"""
from __future__ import annotations

import logging
from typing import Callable

from edge.errors import ConfigError
from edge.nodetype import NodeType, Param, Port
from messages import Stats
from nodes.inference.preprocess import CHANNEL_ORDERS, ImagePreprocess
from nodes.metrics import RateMeter, Window
from nodes.model_runner import tasks
from nodes.model_runner.flow import Credits
from nodes.model_runner.contract import (BOXES_PORT, IMAGE_PORT, check_model_input,
                                         check_model_output, check_producer, image_layout)
from nodes.model_runner.model import (ModelFile, effective_parameters, locate_model,
                                      model_session, read_model)
from nodes.model_runner.pairing import FramePairs
from nodes.ocr.detection import DBParams

log = logging.getLogger("nodes.model_runner")

POSTPROCESSORS = ("text_boxes", "ctc_text", "softmax_topk", "raw")
OUTPUT_OF = {"text_boxes": "boxes", "ctc_text": "text", "softmax_topk": "classes",
             "raw": "tensors"}


class ModelRunner(NodeType):
    """Runs an ONNX model with onnxruntime; what it publishes depends on `postprocess`."""

    inputs = {"image": IMAGE_PORT, "boxes": BOXES_PORT,
              "gate": Port(help="optional: a consumer's output; hold new frames while "
                                "max_in_flight results are not yet answered on it")}
    outputs = {
        "boxes": Port("Detections", help="text_boxes: text regions with polygons"),
        "text": Port("Text", help="ctc_text: strings read in the `boxes` of a frame"),
        "classes": Port("Classification", help="softmax_topk: best classes first"),
        "tensors": Port("TensorMap", help="raw: the model's outputs by name"),
        "stats": Port("Stats", help="inference ms, fps, drops; every stats_period_s"),
    }
    parameters = {
        "model": Param(str, help="an .onnx path or a bundled alias (ppocr-det, ppocr-rec)"),
        "model_manager": Param(str, default="", help="model manager endpoint; `model` is then a "
                                                     "uid or model name stored there"),
        "postprocess": Param(str, default="auto", choices=("auto", *POSTPROCESSORS),
                             help="auto = the alias's (ppocr-det: text_boxes, ppocr-rec: "
                                  "ctc_text), else raw"),
        "size": Param(list, default=[], help="[height, width] to resize to; [] = the model's "
                                             "fixed size, else the frame's (see limit_side_len)"),
        "keep_aspect": Param(bool, default=True, help="letterbox instead of stretching"),
        "pad_value": Param(int, default=0, help="letterbox padding, in pixel units"),
        "limit_side_len": Param(int, default=0, help="dynamic size: longest side at most this"),
        "size_multiple": Param(int, default=0, help="dynamic size: round sides to a multiple"),
        "scale": Param(float, default=1.0 / 255.0, help="pixel * scale, then - mean, / std"),
        "mean": Param(list, default=[], help="per channel; [] = alias preset or 0"),
        "std": Param(list, default=[], help="per channel; [] = alias preset or 1"),
        "channel_order": Param(str, default="bgr", choices=CHANNEL_ORDERS),
        "layout": Param(str, default="auto", choices=("auto", "nchw", "nhwc")),
        "thresh": Param(float, default=0.3, help="text_boxes: pixel probability of text"),
        "box_thresh": Param(float, default=0.5, help="text_boxes: mean probability of a box"),
        "unclip_ratio": Param(float, default=1.6, help="text_boxes: how far boxes grow"),
        "min_text_score": Param(float, default=0.5, help="ctc_text: drop weaker reads"),
        "rec_batch_size": Param(int, default=8, help="ctc_text: crops per inference"),
        "rec_min_width": Param(int, default=64, help="ctc_text: narrowest padded crop"),
        "frames_kept": Param(int, default=32, help="ctc_text: frames held to match boxes; "
                             "cover camera fps x detector latency"),
        "top_k": Param(int, default=5, help="softmax_topk: classes published"),
        "labels": Param(list, default=[], help="softmax_topk: class names by index"),
        "apply_softmax": Param(bool, default=True, help="softmax_topk: off if the model has one"),
        "max_in_flight": Param(int, default=2, help="gate: results not yet answered; 2 "
                               "lets this stage work while the next one does"),
        "gate_timeout_s": Param(float, default=2.0, help="gate: give up waiting after this"),
        "threads": Param(int, default=0, help="onnxruntime intra-op threads; 0 = per core"),
        "spin_wait": Param(bool, default=True,
                           help="let idle onnxruntime threads spin; off when cores are shared"),
        "stats_period_s": Param(float, default=1.0, help="how often to publish stats"),
    }

    @classmethod
    def check_inputs(cls, parameters: dict, producers: dict[str, Port]) -> list[str]:
        """The launcher's check: the model exists and fits the ports that feed it."""
        params = effective_parameters(parameters)
        if params.get("model_manager"):
            # Fetching the model means a round trip to the manager, which may not be up
            # before launch: the spec check then happens when the node starts.
            problems = []
        else:
            try:
                model = read_model(locate_model(params))
            except ConfigError as exc:
                return [exc.message]
            problems = model_problems(model, params["postprocess"], producers.get("image"))
        if params["postprocess"] == "ctc_text":
            if "boxes" not in producers:
                problems.append("ctc_text needs the `boxes` input connected (text boxes)")
            else:
                problems += check_producer("boxes", BOXES_PORT, producers["boxes"])
        return problems

    def run(self, node) -> None:
        Loop(node, *prepared_task(node.params)).run()


def prepared_task(node_params: dict) -> tuple[dict, Callable]:
    """The effective parameters and the model's task; a model that cannot work on images
    is a ConfigError (model_runner and model_shadow alike)."""
    params = effective_parameters(node_params)
    model = read_model(locate_model(params))
    problems = model_problems(model, params["postprocess"], IMAGE_PORT)
    if problems:
        raise ConfigError(f"{params['model']}: " + "; ".join(problems), "INVALID_ARGUMENT")
    return params, build_task(model, params)


def model_problems(model: ModelFile, postprocess: str, producer: Port | None) -> list[str]:
    return (check_model_input(model.inputs, postprocess, producer)
            + check_model_output(model.outputs, postprocess, model.metadata))


def build_task(model: ModelFile, params: dict):
    """The session and the pre/postprocessing around it, from the spec and the parameters."""
    session = model_session(model, params["threads"], params["spin_wait"])
    post = params["postprocess"]
    if post == "ctc_text":
        return tasks.CtcTextTask(session, params["rec_batch_size"], params["rec_min_width"],
                                 params["min_text_score"])
    spec = model.inputs[0]
    fixed = [d.size if not d.dynamic else None for d in spec.shape]
    try:
        preprocess = ImagePreprocess.from_input_shape(
            fixed, keep_aspect=params["keep_aspect"], pad_value=params["pad_value"],
            scale=params["scale"], mean=tuple(params["mean"]), std=tuple(params["std"]),
            channel_order=params["channel_order"],
            layout=image_layout(spec) if params["layout"] == "auto" else params["layout"],
            limit_side_len=params["limit_side_len"], size_multiple=params["size_multiple"],
            dtype=spec.dtype, **({"size": tuple(params["size"])} if params["size"] else {}))
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"preprocessing parameters: {exc}", "INVALID_ARGUMENT") from None
    if post == "text_boxes":
        convert = tasks.text_boxes(DBParams(params["thresh"], params["box_thresh"],
                                            params["unclip_ratio"]))
    elif post == "softmax_topk":
        convert = tasks.topk(params["top_k"], params["labels"], params["apply_softmax"])
    else:
        convert = tasks.raw([o.name for o in model.outputs])
    return tasks.ImageTask(session, preprocess, convert)


class Loop:
    """The event loop: frames (and boxes) in, results and periodic stats out."""

    def __init__(self, node, params: dict, task):
        self.node, self.task = node, task
        self.output = OUTPUT_OF[params["postprocess"]]
        self.meter, self.windows = RateMeter(clock=node.clock.monotonic), {}
        self.dropped = self.processed = self.errors = 0
        self.pairs = None
        needed = ["image"]
        if params["postprocess"] == "ctc_text":
            needed.append("boxes")
            self.pairs = FramePairs(params["frames_kept"])
        missing = [name for name in needed if name not in node.config.inputs]
        if missing:
            raise ConfigError(f"{params['postprocess']} needs input(s) {', '.join(missing)} "
                              "connected", "INVALID_ARGUMENT")
        self.primary = needed[-1]  # the input whose skipped messages are dropped work
        self.credits, self.held = None, None
        self.result_event = None   # ctc_text: the boxes event the next result is paired with
        if "gate" in node.config.inputs:
            if self.pairs is not None:
                raise ConfigError("the gate input is for image-fed postprocessors, not ctc_text",
                                  "INVALID_ARGUMENT")
            self.credits = Credits(params["max_in_flight"], params["gate_timeout_s"],
                                   node.clock.monotonic)
        if self.pairs is not None:
            queue = max(params["frames_kept"], node.config.inputs["image"].queue_size)
            node.subscribe("image", queue_size=queue)  # frames wait for their boxes
        if "stats" in node.config.outputs:
            node.timer("stats", params["stats_period_s"])

    def run(self) -> None:
        for event in self.node:
            if event.kind == "input":
                self.dropped += event.dropped if event.name == self.primary else 0
                self._on_input(event)
            elif event.kind == "timer" and event.name == "stats":
                self._publish_stats()

    def _on_input(self, event) -> None:
        if self.pairs is None:
            self._on_frame_or_ack(event)
            return
        key = (event.value.frame_id, event.stamp_ns)
        if event.name == "image":
            pair = self.pairs.add_frame(key, event.value)
        else:
            self.result_event = event   # the output derives from it (its per-hop trail)
            pair = self.pairs.add_result(key, event.value)
        if pair is not None:
            self._run(event.stamp_ns, *pair, parent=self.result_event)

    def _on_frame_or_ack(self, event) -> None:
        if event.name == "gate":
            self.credits.acknowledge(event.stamp_ns)
            event, self.held = self.held, None
            if event is None:
                return
        if self.credits is not None and not self.credits.available():
            self.dropped += self.held is not None
            self.held = event   # the newest frame waits for a credit
            return
        self._run(event.stamp_ns, event.value, parent=event)

    def _run(self, stamp_ns: int, *inputs, parent=None) -> None:
        """One inference; a failure is counted and logged (sparingly), the node goes on."""
        try:
            message = self.task(*inputs)
        except Exception as exc:  # onnxruntime raises several unrelated types
            self.errors += 1
            if self.errors == 1 or self.errors % 100 == 0:
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                log.error("%s: inference failed (%d so far): %s", self.node.name, self.errors,
                          first[:300])
            return
        self._publish(message, stamp_ns, parent)

    def _publish(self, message, stamp_ns: int, parent=None) -> None:
        """`parent`: the input event the result derives from (the frame, or the boxes)."""
        self.node.publish(self.output, message, stamp_ns=stamp_ns, parent=parent)
        if self.credits is not None:
            self.credits.sent(stamp_ns)
        self.processed += 1
        self.meter.tick()
        for stage, ms in self.task.ms.items():
            self.windows.setdefault(stage, Window(100)).add(ms)
        age_ms = (self.node.clock.time_ns() - stamp_ns) / 1e6
        self.windows.setdefault("age_ms", Window(100)).add(age_ms)

    def _publish_stats(self) -> None:
        values = {"fps": round(self.meter.rate(), 3), "processed": self.processed,
                  "dropped": self.dropped, "errors": self.errors}
        for stage, window in self.windows.items():
            values[stage] = round(window.mean(), 3)
        if self.pairs is not None:
            values["unmatched"] = self.pairs.unmatched
        if self.credits is not None:
            values["gate_expired"] = self.credits.expired
        self.node.publish("stats", Stats(self.node.name, values))

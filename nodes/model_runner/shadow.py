"""The `model_shadow` node type: a candidate model run beside a live one, judged, never used.

It takes the same inputs as the model_runner it shadows plus that runner's output
(`reference`), runs the candidate on each frame it gets to (latest-only, so a slower
candidate skips frames instead of falling behind), and compares the two results of the
same frame (nodes.model_runner.agreement). It publishes only Stats on `agreement`, which
`edge measure` and `edge topic echo` show; downstream nodes never see the candidate's
results. The first disagreements are logged and kept for the `disagreements` request.
"""
from __future__ import annotations

import collections
import logging

from edge.nodetype import NodeType, Param, Port
from messages import Stats
from nodes.model_runner.agreement import Agreement
from nodes.model_runner.contract import BOXES_PORT, IMAGE_PORT
from nodes.model_runner.node import ModelRunner, prepared_task
from nodes.model_runner.pairing import FramePairs

log = logging.getLogger("nodes.model_shadow")
REFERENCES_KEPT = 64   # live results waiting for the candidate's result of the same frame
SHARED = ("model", "model_manager", "postprocess", "size", "keep_aspect", "pad_value",
          "limit_side_len", "size_multiple", "scale", "mean", "std", "channel_order", "layout",
          "thresh", "box_thresh", "unclip_ratio", "min_text_score", "rec_batch_size",
          "rec_min_width", "frames_kept", "top_k", "labels", "apply_softmax", "threads",
          "spin_wait", "stats_period_s")


class ModelShadow(NodeType):
    """Runs a candidate model on a live model_runner's inputs and reports how they agree."""

    inputs = {"image": IMAGE_PORT, "boxes": BOXES_PORT,
              "reference": Port(help="the live model_runner's output, to compare against")}
    outputs = {"agreement": Port("Stats", help="frames compared, mismatch rate, max abs "
                                               "diff, box IoU, text agreement")}
    parameters = {key: ModelRunner.parameters[key] for key in SHARED}
    parameters["model"] = Param(str, help="the candidate: an .onnx path, alias or stored uid")

    @classmethod
    def check_inputs(cls, parameters: dict, producers: dict[str, Port]) -> list[str]:
        problems = [] if "reference" in producers else ["the `reference` input must be connected"]
        return problems + ModelRunner.check_inputs(parameters, producers)

    def run(self, node) -> None:
        ShadowLoop(node, *prepared_task(node.params)).run()


class ShadowLoop:
    def __init__(self, node, params: dict, task):
        self.node, self.task = node, task
        self.agreement = Agreement()
        self.references: collections.OrderedDict = collections.OrderedDict()
        self.candidates: collections.OrderedDict = collections.OrderedDict()
        self.frame_ids: collections.OrderedDict = collections.OrderedDict()
        self.errors = 0
        ctc = params["postprocess"] == "ctc_text"
        self.pairs = FramePairs(params["frames_kept"]) if ctc else None
        if self.pairs is not None:
            node.subscribe("image", queue_size=max(params["frames_kept"], 1))
        node.subscribe("reference", queue_size=REFERENCES_KEPT)
        node.serve("disagreements", lambda request: self.agreement.summary()["samples"])
        node.timer("stats", params["stats_period_s"])

    def run(self) -> None:
        for event in self.node:
            if event.kind == "input":
                self._on_input(event)
            elif event.kind == "timer":
                self._publish()

    def _on_input(self, event) -> None:
        """Results are matched by capture stamp (a TensorMap has no frame_id)."""
        stamp_ns = event.stamp_ns
        if event.name == "reference":
            _keep(self.references, stamp_ns, event.value)
        elif self.pairs is None:
            self._run(stamp_ns, event.value)
        else:
            key = (event.value.frame_id, stamp_ns)
            pair = (self.pairs.add_frame(key, event.value) if event.name == "image"
                    else self.pairs.add_result(key, event.value))
            if pair is not None:
                self._run(stamp_ns, *pair)
        self._compare()

    def _run(self, stamp_ns: int, *inputs) -> None:
        _keep(self.frame_ids, stamp_ns, inputs[0].frame_id)
        try:
            _keep(self.candidates, stamp_ns, self.task(*inputs))
        except Exception as exc:  # onnxruntime raises several unrelated types
            self.errors += 1
            if self.errors == 1 or self.errors % 100 == 0:
                log.error("%s: candidate inference failed (%d so far): %s", self.node.name,
                          self.errors, str(exc).splitlines()[0][:300] if str(exc) else exc)

    def _compare(self) -> None:
        for stamp_ns in [k for k in self.candidates if k in self.references]:
            samples, frame_id = len(self.agreement.samples), self.frame_ids.pop(stamp_ns, 0)
            self.agreement.add(self.references.pop(stamp_ns), self.candidates.pop(stamp_ns),
                               frame_id)
            if len(self.agreement.samples) > samples:
                log.info("%s: disagreement on frame %d: %s", self.node.name, frame_id,
                         self.agreement.samples[-1])

    def _publish(self) -> None:
        summary = self.agreement.summary()
        values = {key: summary[key] for key in ("frames", "skipped", "max_abs_diff",
                                                "mismatch_rate", "mean_box_iou",
                                                "text_agreement", "top1_agreement")
                  if summary[key] is not None}
        values["errors"] = self.errors
        self.node.publish("agreement", Stats(self.node.name, values))


def _keep(ordered: collections.OrderedDict, key, value) -> None:
    ordered[key] = value
    while len(ordered) > REFERENCES_KEPT:
        ordered.popitem(last=False)

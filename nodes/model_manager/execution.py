"""One onnxruntime run for a batch of requests, with timing, stats and error mapping.

Outcomes are returned rather than delivered so the scheduler can free the
model for the next batch before any caller's callback runs.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

from edge.errors import EdgeError, Internal, InvalidArgument
from nodes.inference.onnx_model import short_error
from .batching import ModelQueue, Request, split_outputs, stack_inputs
from .config import ModelConfig
from .inline import QuickRuns, shape_key
from .specs import TensorSpec
from .stats import ModelStats

log = logging.getLogger("edge.model_manager")

Outcome = tuple[Request, Any]


class ForwardResult(NamedTuple):  # a tuple: built once per request, cheaper than a dataclass
    uid: str
    request_id: str
    outputs: dict[str, np.ndarray]


@dataclass(eq=False)
class LoadedModel:
    uid: str
    session: ort.InferenceSession
    input_specs: list[TensorSpec]
    output_names: list[str]
    config: ModelConfig
    queue: ModelQueue
    stats: ModelStats
    quick: QuickRuns  # which input shapes run quickly enough for the socket thread
    accepted_inputs: set = field(default_factory=set)  # input signatures checked before


def run_batch(model: LoadedModel, batch: list[Request]) -> list[Outcome]:
    """One run for a batch taken from the queue, on a worker thread."""
    try:
        per_request = _compute(model, batch)
    except EdgeError as exc:
        if len(batch) > 1:  # one bad request must not fail its batch-mates
            return [o for request in batch for o in run_batch(model, [request])]
        return [failure(model, batch[0], exc)]
    return [(request, ForwardResult(model.uid, request.request_id, outputs))
            for request, outputs in zip(batch, per_request)]


def run_one(model: LoadedModel, request: Request, shapes: tuple) -> Any:
    """The inline path (a quick model's request on the thread that received it): run_batch
    for a batch of one, with only what one request needs. Its ForwardResult or EdgeError.
    Timed by the wall clock only (see inline.py: a CPU clock read is a system call)."""
    start_ns = time.monotonic_ns()
    try:
        outputs = _run(model, request.inputs)
    except EdgeError as exc:
        return failure(model, request, exc)[1]
    end_ns = time.monotonic_ns()
    model.quick.record(shapes, end_ns - start_ns)
    model.stats.record_one(start_ns - request.enqueue_ns, end_ns - request.enqueue_ns,
                           end_ns - start_ns)
    return ForwardResult(model.uid, request.request_id, dict(zip(model.output_names, outputs)))


def _run(model: LoadedModel, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    try:
        return model.session.run(model.output_names, feeds)
    except ort_state.InvalidArgument as exc:
        raise InvalidArgument(f"onnxruntime rejected the inputs: {short_error(exc)}") from exc
    except Exception as exc:
        raise Internal(f"inference failed: {short_error(exc)}") from exc


def _compute(model: LoadedModel, batch: list[Request]) -> list[dict[str, np.ndarray]]:
    tracked = len(batch) == 1 and not model.queue.batching  # may later run inline
    cpu_clock = tracked and model.quick.cpu_clock
    cpu_ns = time.thread_time_ns() if cpu_clock else 0
    start_ns = time.monotonic_ns()
    feeds = stack_inputs(batch)
    ran_ns = time.monotonic_ns()
    outputs = _run(model, feeds)
    done_ns = time.monotonic_ns()
    per_request = split_outputs(model.output_names, outputs, batch)
    end_ns = time.monotonic_ns()
    if tracked:
        took_ns = time.thread_time_ns() - cpu_ns if cpu_clock else end_ns - start_ns
        model.quick.record(shape_key(batch[0].inputs), took_ns)
    enqueued_ns = sum([r.enqueue_ns for r in batch])
    model.stats.record_batch(
        requests=len(batch), queue_ns=len(batch) * start_ns - enqueued_ns,
        request_ns=len(batch) * end_ns - enqueued_ns,
        rows=sum([r.rows for r in batch]) if model.queue.batching else len(batch),
        input_ns=ran_ns - start_ns, infer_ns=done_ns - ran_ns, output_ns=end_ns - done_ns)
    return per_request


def failure(model: LoadedModel, request: Request, exc: EdgeError) -> Outcome:
    model.stats.record_failure(exc.code, time.monotonic_ns() - request.enqueue_ns)
    return request, exc


def deliver(request: Request, value: Any) -> None:
    """A broken callback must not take a worker thread down with it."""
    try:
        request.on_done(value)
    except Exception:
        log.exception("on_done callback for request %r raised", request.request_id)

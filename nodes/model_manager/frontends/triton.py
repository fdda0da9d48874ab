"""KServe v2 / Triton `inference.GRPCInferenceService` over the model manager.

Errors become gRPC status codes (ours share gRPC's names), which tritonclient
raises as InferenceServerException. Models are addressed by name and version,
or by uid in `model_name`.
"""
from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from typing import Any

import grpc
import numpy as np
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc

from edge.errors import EdgeError, Internal, InvalidArgument
from ..execution import ForwardResult
from ..manager import ModelManager
from . import triton_views as views
from .tensors import from_contents, from_raw, to_raw, triton_datatype

log = logging.getLogger("edge.model_manager")

NO_DEADLINE_WAIT_S = 3600.0
STREAM_POLL_S = 0.5
_END = object()


def _status(method):
    """EdgeError -> the gRPC status of the same name; anything else is a bug: INTERNAL."""
    @functools.wraps(method)
    def wrapper(self, request, context):
        try:
            return method(self, request, context)
        except EdgeError as exc:
            context.abort(_code(exc), exc.message)
        except Exception as exc:
            log.exception("%s failed", method.__name__)
            context.abort(grpc.StatusCode.INTERNAL, f"internal error: {exc}")
    return wrapper


def _code(exc: EdgeError) -> grpc.StatusCode:
    return getattr(grpc.StatusCode, exc.code, grpc.StatusCode.UNKNOWN)


class TritonService(service_pb2_grpc.GRPCInferenceServiceServicer):
    def __init__(self, manager: ModelManager) -> None:
        self.manager = manager

    # -- health and metadata ---------------------------------------------------------
    @_status
    def ServerLive(self, request, context):
        return pb.ServerLiveResponse(live=self.manager.is_server_live())

    @_status
    def ServerReady(self, request, context):
        return pb.ServerReadyResponse(ready=self.manager.is_server_ready())

    @_status
    def ModelReady(self, request, context):
        try:
            uid = self._uid(request)
        except EdgeError:
            return pb.ModelReadyResponse(ready=False)
        return pb.ModelReadyResponse(ready=self.manager.is_model_ready(uid))

    @_status
    def ServerMetadata(self, request, context):
        return pb.ServerMetadataResponse(**self.manager.get_server_metadata())

    @_status
    def ModelMetadata(self, request, context):
        return views.model_metadata(self.manager.get_model_metadata(self._uid(request)))

    @_status
    def ModelConfig(self, request, context):
        uid = self._uid(request)
        return views.model_config(self.manager.get_model_metadata(uid),
                                  self.manager.get_model_config(uid))

    @_status
    def ModelStatistics(self, request, context):
        uids = [self._uid(request)] if request.name else None
        stats = self.manager.get_inference_statistics(uids)
        infos = {i.uid: i for i in self.manager.get_models_info([s["uid"] for s in stats])}
        return pb.ModelStatisticsResponse(
            model_stats=[views.statistics(infos[s["uid"]], s) for s in stats])

    # -- repository --------------------------------------------------------------------
    @_status
    def RepositoryIndex(self, request, context):
        infos = {i.uid: i for i in self.manager.get_models_info()}
        entries = [views.index_entry(infos[e["uid"]], e["state"], e["reason"])
                   for e in self.manager.get_model_repository_index() if e["uid"] in infos
                   and (e["state"] == "READY" or not request.ready)]
        return pb.RepositoryIndexResponse(models=entries)

    @_status
    def RepositoryModelLoad(self, request, context):
        uid = self.manager.resolve_model(request.model_name)
        self.manager.load_models([uid], config=views.load_config(request.parameters))
        return pb.RepositoryModelLoadResponse()

    @_status
    def RepositoryModelUnload(self, request, context):
        self.manager.unload_models([self.manager.resolve_model(request.model_name)])
        return pb.RepositoryModelUnloadResponse()

    # -- inference -----------------------------------------------------------------------
    @_status
    def ModelInfer(self, request, context):
        uid, inputs, options = self._prepare(request, remaining_s(context))
        wait_s = options.pop("wait_s")
        outputs = self.manager.forward(uid, inputs, timeout_s=wait_s, **options)
        return _response(request, outputs)

    def ModelStreamInfer(self, request_iterator, context):
        """Many requests on one stream; each answered when done (maybe out of order),
        failures as `error_message` as Triton does, so the stream lives on."""
        replies: queue.Queue = queue.Queue()
        threading.Thread(target=self._read_stream, args=(request_iterator, replies),
                         name="triton-stream", daemon=True).start()
        submitted, answered = None, 0
        while context.is_active() and (submitted is None or answered < submitted):
            try:
                item = replies.get(timeout=STREAM_POLL_S)
            except queue.Empty:
                continue
            if isinstance(item, tuple) and item[0] is _END:
                submitted = item[1]
                continue
            answered += item[0]
            yield item[1]

    # -- internals ---------------------------------------------------------------------
    def _uid(self, request) -> str:
        """Model requests carry `name` (a name or a uid) and `version` ("" is the newest)."""
        return self.manager.resolve_model(request.name, request.version or None)

    def _prepare(self, request, remaining_s: float | None) -> tuple[str, dict, dict]:
        uid = self.manager.resolve_model(request.model_name, request.model_version or None)
        inputs = _inputs(request)
        params = request.parameters
        priority = params["priority"].uint64_param if "priority" in params else 0
        waits = [s for s in (remaining_s, params["timeout"].int64_param / 1e6
                             if "timeout" in params else None) if s is not None]
        wait_s = min(waits) if waits else None
        deadline_ns = None if wait_s is None else time.monotonic_ns() + int(wait_s * 1e9)
        options = {"request_id": request.id, "priority": int(priority),
                   "deadline_ns": deadline_ns,
                   "wait_s": NO_DEADLINE_WAIT_S if wait_s is None else wait_s + 1.0}
        return uid, inputs, options

    def _read_stream(self, request_iterator, replies: queue.Queue) -> None:
        """Submits each request (never waits on inference); answers arrive via on_done."""
        submitted = 0
        try:
            for request in request_iterator:
                try:
                    uid, inputs, options = self._prepare(request, None)
                    options.pop("wait_s")
                    self.manager.submit_forward(
                        uid, inputs, on_done=functools.partial(_stream_done, request, replies),
                        **options)
                    submitted += 1
                except EdgeError as exc:
                    replies.put((0, _stream_error(request, exc)))
        except Exception as exc:  # the client went away mid-stream
            log.debug("stream ended: %s", exc)
        replies.put((_END, submitted))


def remaining_s(context) -> float | None:
    """The call's gRPC deadline; without one grpc reports a huge number, meaning none."""
    remaining = context.time_remaining()
    return None if remaining is None or remaining > NO_DEADLINE_WAIT_S else remaining


def _inputs(request) -> dict[str, np.ndarray]:
    raw = request.raw_input_contents
    if raw and len(raw) != len(request.inputs):
        raise InvalidArgument(f"{len(raw)} raw_input_contents for {len(request.inputs)} inputs")
    inputs = {}
    for i, tensor in enumerate(request.inputs):
        if tensor.name in inputs:
            raise InvalidArgument(f"input {tensor.name!r} given twice", {"input": tensor.name})
        inputs[tensor.name] = (from_raw(tensor.name, tensor.datatype, tensor.shape, raw[i]) if raw
                               else from_contents(tensor.name, tensor.datatype, tensor.shape,
                                                  tensor.contents))
    return inputs


def _response(request, outputs: dict[str, np.ndarray]) -> pb.ModelInferResponse:
    wanted = [o.name for o in request.outputs] or list(outputs)
    unknown = [name for name in wanted if name not in outputs]
    if unknown:
        raise InvalidArgument(f"requested output {unknown[0]!r} is not an output of the model; "
                              f"its outputs are {sorted(outputs)}", {"output": unknown[0]})
    response = pb.ModelInferResponse(model_name=request.model_name,
                                     model_version=request.model_version, id=request.id)
    for name in wanted:
        array = outputs[name]
        response.outputs.add(name=name, datatype=triton_datatype(array.dtype.name),
                             shape=array.shape)
        response.raw_output_contents.append(to_raw(array))
    return response


def _stream_done(request, replies: queue.Queue, value: Any) -> None:
    if isinstance(value, ForwardResult):
        try:
            replies.put((1, pb.ModelStreamInferResponse(
                infer_response=_response(request, value.outputs))))
        except EdgeError as exc:
            replies.put((1, _stream_error(request, exc)))
    else:
        error = value if isinstance(value, EdgeError) else Internal(str(value))
        replies.put((1, _stream_error(request, error)))


def _stream_error(request, exc: EdgeError) -> pb.ModelStreamInferResponse:
    return pb.ModelStreamInferResponse(
        error_message=f"{exc.code}: {exc.message}",
        infer_response=pb.ModelInferResponse(model_name=request.model_name,
                                             model_version=request.model_version, id=request.id))

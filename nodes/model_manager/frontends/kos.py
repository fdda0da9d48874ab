"""pykos's `kos.inference.InferenceService` over the model manager.

pykos reads failures from each response's `error` field, so every call
answers OK at the gRPC level; the error's message starts with our code
(`NOT_FOUND: ...`) because kos's ErrorCode has no equivalent for most of them.
Tensors travel as flat float32 `values` and are cast to the model's dtypes.
"""
from __future__ import annotations

import logging

from kos_protos import common_pb2, inference_pb2, inference_pb2_grpc

from edge.errors import EdgeError, Internal
from ..manager import ModelManager
from ..specs import ModelInfo, TensorSpec, describe
from .tensors import from_float_list
from .triton import remaining_s

log = logging.getLogger("edge.model_manager")

FORWARD_WAIT_S = 600.0
KOS_CODES = {"INVALID_ARGUMENT": common_pb2.INVALID_ARGUMENT,
             "UNIMPLEMENTED": common_pb2.NOT_IMPLEMENTED,
             "DEADLINE_EXCEEDED": common_pb2.TIMEOUT}


def kos_error(exc: BaseException) -> common_pb2.Error:
    if not isinstance(exc, EdgeError):
        log.error("kos call failed unexpectedly", exc_info=exc)
        exc = Internal(f"internal error: {exc}")
    return common_pb2.Error(code=KOS_CODES.get(exc.code, common_pb2.UNKNOWN),
                            message=f"{exc.code}: {exc.message}")


class KosInferenceService(inference_pb2_grpc.InferenceServiceServicer):
    def __init__(self, manager: ModelManager) -> None:
        self.manager = manager

    def UploadModel(self, request, context):
        try:
            meta = request.metadata
            metadata = {key: getattr(meta, "model_" + key)
                        for key in ("name", "description", "version", "author")
                        if request.HasField("metadata") and meta.HasField("model_" + key)}
            uid = self.manager.upload_model(request.model, metadata)
        except Exception as exc:
            return inference_pb2.UploadModelResponse(error=kos_error(exc))
        return inference_pb2.UploadModelResponse(model_uid=uid)

    def LoadModels(self, request, context):
        try:
            uids = [self.manager.resolve_model(ref) for ref in request.uids]
            self.manager.load_models(uids)
            models = [_model_info(i) for i in self.manager.get_models_info(uids)]
        except Exception as exc:
            return inference_pb2.LoadModelsResponse(
                result=common_pb2.ActionResponse(success=False, error=kos_error(exc)))
        return inference_pb2.LoadModelsResponse(
            models=models, result=common_pb2.ActionResponse(success=True))

    def UnloadModels(self, request, context):
        try:
            self.manager.unload_models([self.manager.resolve_model(r) for r in request.uids])
        except Exception as exc:
            return common_pb2.ActionResponse(success=False, error=kos_error(exc))
        return common_pb2.ActionResponse(success=True)

    def GetModelsInfo(self, request, context):
        try:
            uids = None
            if request.WhichOneof("filter") == "model_uids":
                uids = [self.manager.resolve_model(r) for r in request.model_uids.uids]
            models = [_model_info(i) for i in self.manager.get_models_info(uids)]
        except Exception as exc:
            return inference_pb2.GetModelsInfoResponse(error=kos_error(exc))
        return inference_pb2.GetModelsInfoResponse(models=models)

    def Forward(self, request, context):
        try:
            uid = self.manager.resolve_model(request.model_uid)
            specs = {s.name: s for s in self.manager.get_model_metadata(uid).input_specs}
            inputs = {name: from_float_list(name, t.values, [d.size for d in t.shape],
                                            specs[name].dtype if name in specs else "float32")
                      for name, t in request.inputs.items()}
            wait_s = remaining_s(context)
            outputs = self.manager.forward(
                uid, inputs, timeout_s=FORWARD_WAIT_S if wait_s is None else wait_s)
        except Exception as exc:
            return inference_pb2.ForwardResponse(error=kos_error(exc))
        return inference_pb2.ForwardResponse(outputs={
            name: inference_pb2.Tensor(values=array.ravel().tolist(), shape=[
                inference_pb2.Tensor.Dimension(size=n) for n in array.shape])
            for name, array in outputs.items()})


def _model_info(info: ModelInfo) -> inference_pb2.ModelInfo:
    """Specs as value-less Tensors; their dtypes (absent from kos's Tensor) go in `description`."""
    meta = info.metadata
    return inference_pb2.ModelInfo(
        uid=info.uid,
        metadata=inference_pb2.ModelMetadata(
            model_name=meta.name, model_description=meta.description,
            model_version=meta.version, model_author=meta.author),
        input_specs={s.name: _spec(s) for s in info.input_specs},
        output_specs={s.name: _spec(s) for s in info.output_specs},
        description="; ".join(f"{s.name}: {describe(s)}"
                              for s in [*info.input_specs, *info.output_specs]))


def _spec(spec: TensorSpec) -> inference_pb2.Tensor:
    shape = spec.shape or []
    return inference_pb2.Tensor(shape=[
        inference_pb2.Tensor.Dimension(size=d.size or 0, name=d.name or "", dynamic=d.dynamic)
        for d in shape])

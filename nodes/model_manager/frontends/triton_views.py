"""The manager's answers in Triton's message types (KServe v2 and model_config.proto)."""
from __future__ import annotations

import json
from typing import Any

from tritonclient.grpc import model_config_pb2 as config_pb
from tritonclient.grpc import service_pb2 as pb

from edge.errors import InvalidArgument
from messages.codec import short
from ..specs import ModelInfo, TensorSpec
from .tensors import triton_datatype

PLATFORM = "onnxruntime_onnx"


def dims(spec: TensorSpec, drop_batch: bool = False) -> list[int]:
    """-1 for a dynamic dim, as Triton writes it; [-1] when the graph gives no rank."""
    if spec.shape is None:
        return [-1]
    sizes = [-1 if d.dynamic else int(d.size) for d in spec.shape]
    return sizes[1:] if drop_batch else sizes


def model_metadata(info: ModelInfo) -> pb.ModelMetadataResponse:
    def tensor(spec: TensorSpec) -> pb.ModelMetadataResponse.TensorMetadata:
        return pb.ModelMetadataResponse.TensorMetadata(
            name=spec.name, datatype=triton_datatype(spec.dtype), shape=dims(spec))

    return pb.ModelMetadataResponse(
        name=info.metadata.name or info.uid, versions=[info.metadata.version or "1"],
        platform=PLATFORM, inputs=[tensor(s) for s in info.input_specs],
        outputs=[tensor(s) for s in info.output_specs])


def model_config(info: ModelInfo, described: dict[str, Any]) -> pb.ModelConfigResponse:
    """Triton leaves the batch dim out of `dims` when max_batch_size > 0; so do we."""
    config = described["config"]
    batching = described["batchable"] and config["max_batch_size"] >= 2
    max_batch = config["max_batch_size"] if batching else 0

    def tensor(kind, spec: TensorSpec):
        data_type = config_pb.DataType.Value("TYPE_" + triton_datatype(spec.dtype)
                                             .replace("BYTES", "STRING"))
        return kind(name=spec.name, data_type=data_type, dims=dims(spec, drop_batch=batching))

    model = config_pb.ModelConfig(
        name=info.metadata.name or info.uid, platform=PLATFORM, backend="onnxruntime",
        max_batch_size=max_batch,
        input=[tensor(config_pb.ModelInput, s) for s in info.input_specs],
        output=[tensor(config_pb.ModelOutput, s) for s in info.output_specs],
        instance_group=[config_pb.ModelInstanceGroup(
            count=config["max_workers"] or config["instance_count"], kind=config_pb.ModelInstanceGroup.KIND_CPU)],
        parameters={"uid": config_pb.ModelParameter(string_value=info.uid)})
    if batching:
        model.dynamic_batching.CopyFrom(config_pb.ModelDynamicBatching(
            preferred_batch_size=config["preferred_batch_sizes"],
            max_queue_delay_microseconds=config["max_queue_delay_us"]))
    return pb.ModelConfigResponse(config=model)


def statistics(info: ModelInfo, stats: dict[str, Any]) -> pb.ModelStatistics:
    """Sums over requests as ours are; compute_* count onnxruntime runs (batches)."""
    def duration(count: int, ns: int) -> pb.StatisticDuration:
        return pb.StatisticDuration(count=count, ns=ns)

    ok, runs = stats["success_count"], stats["execution_count"]
    return pb.ModelStatistics(
        name=info.metadata.name or info.uid, version=info.metadata.version or "1",
        last_inference=stats["last_inference_ms"], inference_count=stats["inference_count"],
        execution_count=runs,
        inference_stats=pb.InferStatistics(
            success=duration(ok, stats["request_ns"]),
            fail=duration(stats["failure_count"], 0),
            queue=duration(ok, stats["queue_ns"]),
            compute_input=duration(runs, stats["compute_input_ns"]),
            compute_infer=duration(runs, stats["compute_infer_ns"]),
            compute_output=duration(runs, stats["compute_output_ns"])),
        batch_stats=[pb.InferBatchStatistics(batch_size=int(size),
                                             compute_infer=duration(count, 0))
                     for size, count in stats["batch_sizes"].items()])


def index_entry(info: ModelInfo, state: str, reason: str) -> pb.RepositoryIndexResponse.ModelIndex:
    return pb.RepositoryIndexResponse.ModelIndex(
        name=info.metadata.name or info.uid, version=info.metadata.version or "1",
        state=state, reason=reason)


def load_config(parameters) -> dict[str, Any] | None:
    """RepositoryModelLoad's `config` parameter (Triton's model config JSON) as our ModelConfig
    keys; only what our batching and instances mean carries over."""
    if "config" not in parameters:
        return None
    try:
        raw = json.loads(parameters["config"].string_param)
    except RecursionError:
        raise InvalidArgument("config parameter nests too deeply to read",
                              {"key": "config"}) from None
    except ValueError as exc:
        raise InvalidArgument(f"config parameter is not JSON: {exc}", {"key": "config"}) from None
    if not isinstance(raw, dict):
        raise InvalidArgument("config parameter must be a JSON object", {"key": "config"})
    ours: dict[str, Any] = {}
    if "max_batch_size" in raw:
        ours["max_batch_size"] = raw["max_batch_size"]
    batching = raw.get("dynamic_batching") or {}
    if isinstance(batching, dict):
        if "preferred_batch_size" in batching:
            ours["preferred_batch_sizes"] = batching["preferred_batch_size"]
        if "max_queue_delay_microseconds" in batching:  # uint64: JSON may carry a string
            ours["max_queue_delay_us"] = _int(batching["max_queue_delay_microseconds"],
                                              "max_queue_delay_microseconds")
    groups = raw.get("instance_group")
    if isinstance(groups, list) and groups and isinstance(groups[0], dict) and "count" in groups[0]:
        ours["instance_count"] = groups[0]["count"]
    return ours


def _int(value: Any, key: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: Infinity
        raise InvalidArgument(f"config: {key} must be an integer, got {short(value)}",
                              {"key": key}) from None

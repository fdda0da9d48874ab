"""Request and result objects that read like the seeds' clients.

tritonclient's InferInput / InferRequestedOutput / InferResult.as_numpy, and
pykos's responses that carry an `error` instead of raising, over our numpy-first
calls, so code written for either client ports with few changes.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge.errors import EdgeError, InvalidArgument

TRITON_DTYPES = {"BOOL": "bool", "UINT8": "uint8", "UINT16": "uint16", "UINT32": "uint32",
                 "UINT64": "uint64", "INT8": "int8", "INT16": "int16", "INT32": "int32",
                 "INT64": "int64", "FP16": "float16", "FP32": "float32", "FP64": "float64"}


class InferInput:
    """One named input, as tritonclient builds it: name, shape and datatype, then data."""

    def __init__(self, name: str, shape: Iterable[int], datatype: str) -> None:
        if datatype not in TRITON_DTYPES:
            raise InvalidArgument(f"input {name!r}: datatype {datatype!r} is not one of "
                                  f"{', '.join(TRITON_DTYPES)}", {"input": name})
        self._name, self._shape, self._datatype = name, [int(n) for n in shape], datatype
        self._data: np.ndarray | None = None

    def name(self) -> str:
        return self._name

    def shape(self) -> list[int]:
        return self._shape

    def datatype(self) -> str:
        return self._datatype

    def set_shape(self, shape: Iterable[int]) -> InferInput:
        self._shape = [int(n) for n in shape]
        return self

    def set_data_from_numpy(self, array: np.ndarray) -> InferInput:
        expected = np.dtype(TRITON_DTYPES[self._datatype])
        if array.dtype != expected or list(array.shape) != self._shape:
            raise InvalidArgument(
                f"input {self._name!r}: got {array.dtype} {list(array.shape)}, declared "
                f"{self._datatype} {self._shape}", {"input": self._name})
        self._data = array
        return self

    def data(self) -> np.ndarray:
        if self._data is None:
            raise InvalidArgument(f"input {self._name!r} has no data: call set_data_from_numpy",
                                  {"input": self._name})
        return self._data


@dataclass(frozen=True)
class InferRequestedOutput:
    """Names an output to return; without any, every output comes back."""

    output_name: str

    def name(self) -> str:
        return self.output_name


@dataclass
class InferResult:
    """tritonclient's result: `as_numpy(name)` is None for an output not returned."""

    model_name: str
    model_version: str
    request_id: str
    outputs: dict[str, np.ndarray]

    def as_numpy(self, name: str) -> np.ndarray | None:
        return self.outputs.get(name)

    def get_output(self, name: str) -> dict[str, Any] | None:
        array = self.outputs.get(name)
        if array is None:
            return None
        return {"name": name, "datatype": triton_datatype(array.dtype),
                "shape": list(array.shape)}

    def get_response(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "model_version": self.model_version,
                "id": self.request_id,
                "outputs": [self.get_output(name) for name in self.outputs]}


def triton_datatype(dtype: np.dtype) -> str:
    by_numpy = {v: k for k, v in TRITON_DTYPES.items()}
    return by_numpy.get(np.dtype(dtype).name, "BYTES")


def infer_feeds(inputs: Iterable[InferInput]) -> dict[str, np.ndarray]:
    feeds: dict[str, np.ndarray] = {}
    for item in inputs:
        if item.name() in feeds:
            raise InvalidArgument(f"input {item.name()!r} given twice", {"input": item.name()})
        feeds[item.name()] = item.data()
    return feeds


def pick_outputs(outputs: dict[str, np.ndarray],
                 wanted: Iterable[InferRequestedOutput] | None) -> dict[str, np.ndarray]:
    if not wanted:
        return outputs
    names = [w.name() for w in wanted]
    unknown = [n for n in names if n not in outputs]
    if unknown:
        raise InvalidArgument(f"requested output {unknown[0]!r} is not an output of the model; "
                              f"its outputs are {sorted(outputs)}", {"output": unknown[0]})
    return {n: outputs[n] for n in names}


# -- pykos style: a response with an error field ----------------------------------------
@dataclass
class Response:
    """What a call answered, or why it failed: `error` is None or an EdgeError
    (`.code`, `.message`, `.details`), as pykos responses carry `error`."""

    error: EdgeError | None = None
    model_uid: str = ""
    models: list = field(default_factory=list)
    outputs: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def success(self) -> bool:
        return self.error is None


class ResponseCalls:
    """pykos's InferenceServiceClient calls on a ModelManagerClient, answering Responses."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def upload_model(self, model_data: bytes, metadata: Any = None) -> Response:
        return self._answer(lambda: Response(model_uid=self._client.upload_model(
            model_data, metadata)))

    def load_models(self, uids: list[str]) -> Response:
        return self._answer(lambda: self._client.load_models(uids) or Response(
            models=self._client.get_models_info(uids)))

    def unload_models(self, uids: list[str]) -> Response:
        return self._answer(lambda: self._client.unload_models(uids) or Response())

    def get_models_info(self, model_uids: list[str] | None = None) -> Response:
        return self._answer(lambda: Response(models=self._client.get_models_info(model_uids)))

    def forward(self, model_uid: str, inputs: dict[str, np.ndarray], **options: Any) -> Response:
        return self._answer(lambda: Response(outputs=self._client.forward(
            model_uid, inputs, **options)))

    @staticmethod
    def _answer(call) -> Response:
        try:
            return call()
        except EdgeError as exc:
            return Response(error=exc)

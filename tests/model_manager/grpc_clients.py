"""The seeds' own clients, used as their users write them: tritonclient.grpc and pykos."""
from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

grpc = pytest.importorskip("grpc", reason="needs the 'grpc' extra")
tritongrpc = pytest.importorskip("tritonclient.grpc", reason="needs the 'grpc' extra")
pykos = pytest.importorskip("pykos", reason="needs the 'grpc' extra")
from tritonclient.grpc import service_pb2, service_pb2_grpc  # noqa: E402
from tritonclient.utils import InferenceServerException  # noqa: E402

__all__ = ["InferenceServerException", "grpc", "service_pb2", "service_pb2_grpc", "infer_inputs", "kos_call", "kos_tensor", "kos_array",
           "pykos", "tritongrpc"]


def infer_inputs(arrays: dict[str, np.ndarray], datatype: str = "FP32") -> list:
    inputs = []
    for name, array in arrays.items():
        tensor = tritongrpc.InferInput(name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    return inputs


def kos_tensor(array: np.ndarray) -> dict[str, Any]:
    return {"values": array.ravel().astype(float).tolist(),
            "shape": [{"size": int(n), "name": "", "dynamic": False} for n in array.shape]}


def kos_array(tensor: dict[str, Any]) -> np.ndarray:
    return np.array(tensor["values"], np.float32).reshape([d["size"] for d in tensor["shape"]])


def kos_call(address: str, method: str, *args: Any) -> Any:
    """One pykos call on a fresh KOS client, as a script would make it."""
    host, port = address.rsplit(":", 1)

    async def run() -> Any:
        async with pykos.KOS(host, int(port)) as kos:
            return await asyncio.wait_for(getattr(kos.inference, method)(*args), 30)

    return asyncio.run(run())

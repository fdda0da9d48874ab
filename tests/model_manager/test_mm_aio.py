"""The asyncio client: many calls in flight on one connection, errors, and timeouts."""
from __future__ import annotations

import asyncio

import numpy as np
import pytest

from edge.errors import NotFound, ServiceTimeout
from nodes.model_manager.aio import AsyncModelManagerClient
from nodes.model_manager.results import InferInput

pytestmark = pytest.mark.timeout(60)


def test_many_calls_in_flight_on_one_connection(server, add_matmul_bytes):
    async def main() -> None:
        async with AsyncModelManagerClient(server.endpoint) as client:
            assert await client.is_server_live()
            uid = await client.upload_model(add_matmul_bytes, {"name": "am"})
            await client.load_models(["am"], {"max_batch_size": 8, "max_queue_delay_us": 1000})
            assert await client.is_model_ready(uid)
            rows = [np.full((1, 3), i, np.float32) for i in range(32)]
            results = await asyncio.gather(*(client.forward("am", {"a": r, "b": r})
                                             for r in rows))
            assert [out["sum"].tolist() for out in results] == [[[2.0 * i] * 3]
                                                                for i in range(32)]
            pair = [InferInput(n, [1, 3], "FP32").set_data_from_numpy(rows[1]) for n in "ab"]
            result = await client.infer("am", pair)
            assert result.as_numpy("sum").tolist() == [[2.0] * 3]
            with pytest.raises(NotFound):
                await client.forward("no-such", {"a": rows[0]})
            [stats] = await client.get_inference_statistics([uid])
            assert stats["success_count"] == 33
            await client.unload_models([uid])

    asyncio.run(main())


def test_no_server_times_out_after_retries(tmp_path):
    async def main() -> None:
        async with AsyncModelManagerClient(f"ipc://{tmp_path}/none.sock", timeout_s=0.2,
                                           retries=1) as client:
            assert not await client.is_server_live(timeout_s=0.2)
            with pytest.raises(ServiceTimeout, match="2 attempt"):
                await client.call("is_server_live")

    asyncio.run(main())

"""Whatever frames a peer sends, the service keeps serving, and every other peer gets its
own reply and nothing else.

Hypothesis draws multipart messages from a raw DEALER: empty frames, garbage, valid and
broken request headers, with and without the delimiter, in any order. After each one a
well-behaved peer asks `whoami` with a fresh id and must get exactly its own answer.
"""
import itertools
import shutil
import tempfile

import msgpack
import pytest
import zmq
from hypothesis import HealthCheck, given, settings, strategies as st

from edge import Service

REPLY_TIMEOUT_MS = 5000

ints = st.integers(-2**63, 2**64 - 1)  # what msgpack can carry

request_ids = st.one_of(st.text(max_size=8), st.integers(-2, 2**40), st.none(), st.binary(max_size=4))
headers = st.fixed_dictionaries(
    {"v": st.sampled_from([1, 1, 1, 2, "1"]), "id": request_ids,
     "method": st.sampled_from(["whoami", "ping", "methods", "nope", ""])},
    optional={"body": st.one_of(st.none(), st.text(max_size=8), ints,
                                st.lists(ints, max_size=3)),
              "timeout_ms": st.one_of(st.integers(-5, 10_000), st.text(max_size=2)),
              "priority": st.one_of(st.integers(-3, 3), st.booleans())})
frames = st.one_of(st.just(b""), st.binary(max_size=40), headers.map(msgpack.packb))
messages = st.lists(frames, min_size=1, max_size=5)


@pytest.fixture(scope="module")
def service():
    directory = tempfile.mkdtemp(prefix="edge-", dir="/tmp")
    service = Service(f"ipc://{directory}/hostile.sock")
    service.add("whoami", lambda request: request.body)
    service.start()
    yield service
    service.close()
    shutil.rmtree(directory, ignore_errors=True)


def dealer(endpoint: str) -> zmq.Socket:
    socket = zmq.Context.instance().socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 0)
    socket.connect(endpoint)
    return socket


_ids = itertools.count()


@pytest.mark.timeout(240)
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(message=messages)
def test_any_frames_leave_the_service_answering_every_peer_alone(service, message):
    hostile, observer = dealer(service.endpoint), dealer(service.endpoint)
    try:
        hostile.send_multipart(message)
        request_id = f"observer:{next(_ids)}"
        observer.send_multipart([b"", msgpack.packb({"v": 1, "id": request_id,
                                                     "method": "whoami", "body": request_id})])
        assert observer.poll(REPLY_TIMEOUT_MS), "the service stopped answering"
        delimiter, header = observer.recv_multipart()
        assert delimiter == b""
        assert msgpack.unpackb(header) == {"v": 1, "id": request_id, "ok": True,
                                           "body": request_id}
        assert not observer.poll(0)  # nothing meant for another peer
    finally:
        hostile.close()
        observer.close()

"""A peer cannot flood a service's log: bad requests and handler failures are logged,
rate limited, and the service keeps answering."""
import logging
import struct

import msgpack
import pytest
import zmq

from edge import Client, Service
from edge.ratelimit import RateLimitedLog
from messages import Limits

FLOOD = 2000


def service_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "edge.service"]


@pytest.mark.timeout(60)
def test_a_flood_of_malformed_requests_is_logged_a_few_times(short_dir, caplog):
    caplog.set_level(logging.WARNING, logger="edge.service")
    service = Service(f"ipc://{short_dir}/flood.sock").start()
    flood = zmq.Context.instance().socket(zmq.DEALER)
    flood.setsockopt(zmq.LINGER, 0)
    flood.connect(service.endpoint)
    try:
        for index in range(FLOOD):
            flood.send_multipart([b"", msgpack.packb({"v": 1, "id": index})])  # no method
        answered = 0
        while answered < FLOOD and flood.poll(5000):
            flood.recv_multipart()
            answered += 1
        assert answered == FLOOD
        with Client(service.endpoint, timeout_s=5) as client:
            assert client.call("ping")["name"] == "service"
    finally:
        flood.close()
        service.close()
    lines = service_lines(caplog)
    assert 1 <= len(lines) <= 10, lines  # main: not one line about them
    assert "malformed request" in lines[0]


@pytest.mark.timeout(60)
def test_a_handler_bug_provoked_again_and_again_logs_a_few_tracebacks(short_dir, caplog):
    caplog.set_level(logging.WARNING, logger="edge.service")
    service = Service(f"ipc://{short_dir}/bug.sock").start()
    service.add("bug", lambda request: 1 / 0)
    try:
        with Client(service.endpoint, timeout_s=5) as client:
            for _ in range(300):
                with pytest.raises(Exception, match="ZeroDivisionError"):
                    client.call("bug")
    finally:
        service.close()
    lines = service_lines(caplog)
    assert 1 <= len(lines) <= 10, len(lines)  # main: 300 tracebacks
    assert caplog.records[0].exc_info is not None  # a bug still shows its traceback


def test_the_first_line_after_a_quiet_spell_counts_what_was_suppressed(caplog):
    now = [0.0]
    limited = RateLimitedLog(logging.getLogger("edge.test"), per_interval=2, interval_s=10,
                             clock=lambda: now[0])
    caplog.set_level(logging.WARNING, logger="edge.test")
    written = [limited.warning("bad %d", i) for i in range(5)]
    assert written == [True, True, False, False, False]
    now[0] = 10.0
    assert limited.warning("bad %d", 5)
    assert [r.getMessage() for r in caplog.records] == [
        "bad 0", "bad 1", "bad 5 (3 similar line(s) suppressed)"]


@pytest.mark.timeout(60)
@pytest.mark.skipif(not hasattr(Limits, "max_items"),
                    reason="needs the decoder's container limits (messages.Limits.max_items)")
def test_a_request_slow_to_decode_does_not_hold_up_pings(short_dir):
    service = Service(f"ipc://{short_dir}/slow.sock").start()
    hostile = zmq.Context.instance().socket(zmq.DEALER)
    hostile.setsockopt(zmq.LINGER, 0)
    hostile.connect(service.endpoint)
    count = (8 << 20) - 16  # a header of millions of empty lists (main: 30 s to refuse each)
    header = b"\xdd" + struct.pack(">I", count) + b"\x90" * count
    try:
        for _ in range(3):
            hostile.send_multipart([b"", header])
        with Client(service.endpoint, timeout_s=2, retries=0) as client:
            for _ in range(3):  # each would wait behind 30 s of decoding
                assert client.call("ping")["name"] == "service"
    finally:
        hostile.close()
        service.close()

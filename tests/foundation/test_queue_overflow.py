"""queue_size > 1 under a burst: drop_oldest keeps the newest, drop_newest keeps the oldest."""
import numpy as np
import pytest

from edge import Node


@pytest.mark.parametrize("overflow", ["drop_oldest", "drop_newest"])
def test_a_burst_larger_than_the_queue(overflow, short_dir):
    endpoint = f"ipc://{short_dir}/burst.sock"
    publisher = Node("burst", handle_signals=False, outputs={"o": {"topic": "b", "endpoint": endpoint}})
    reader = Node("reader", handle_signals=False)
    try:
        publisher.bind_outputs()
        reader.subscribe("in", topic="b", endpoint=endpoint, queue_size=4, overflow=overflow)
        while reader.next_event(timeout_s=0.02) is None:  # connected once one message arrives
            publisher.publish("o", np.zeros(1))
        first = publisher.publish("o", np.zeros(1))
        for _ in range(49):
            last = publisher.publish("o", np.zeros(1))
        seqs = []
        while len(seqs) < 50 and (event := reader.next_event(timeout_s=0.5)) is not None:
            seqs.append(event.seq)
        assert seqs == sorted(seqs)
        if overflow == "drop_oldest":  # drains may catch the burst part-way: still newest last
            assert seqs[-1] == last and len(seqs) < 50
            assert reader.stats()["inputs"]["in"]["dropped"] + len(seqs) == 50
        else:
            assert seqs[:4] == [first, first + 1, first + 2, first + 3]
    finally:
        reader.close()
        publisher.close()


def test_an_unknown_overflow_is_refused():
    with pytest.raises(ValueError, match="overflow must be one of drop_oldest, drop_newest"):
        Node("reader", handle_signals=False).subscribe("in", endpoint="ipc:///tmp/x.sock",
                                                       overflow="keep_all")


def test_a_woken_queue_hands_over_the_first_message_then_reads_the_rest(short_dir):
    """A poll's wake-up delivers the message it announced without asking the socket for
    more; what came behind it is read before the node waits again, in order, none lost."""
    endpoint = f"ipc://{short_dir}/woken.sock"
    publisher = Node("pub", handle_signals=False, outputs={"o": {"topic": "w", "endpoint": endpoint}})
    reader = Node("reader", handle_signals=False)
    try:
        publisher.bind_outputs()
        source = reader.subscribe("in", topic="w", endpoint=endpoint, queue_size=8)
        while reader.next_event(timeout_s=0.02) is None:  # connected once one message arrives
            publisher.publish("o", np.zeros(1))
        while reader.next_event(timeout_s=0.05) is not None:
            pass
        seqs = [publisher.publish("o", np.zeros(1)) for _ in range(3)]
        first = reader.next_event(timeout_s=5)   # woken by the poll
        assert first.seq == seqs[0] and source.unread and not source.queue
        rest = [reader.next_event(timeout_s=5).seq for _ in range(2)]
        assert rest == seqs[1:]
        assert reader.next_event(timeout_s=0.05) is None and not source.unread
        assert reader.stats()["inputs"]["in"]["dropped"] == 0
    finally:
        reader.close()
        publisher.close()

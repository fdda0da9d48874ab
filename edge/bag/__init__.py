"""Record and replay: edge messages in MCAP files (docs/RECORDING.md).

    from edge import bag
    for topic, log_time_ns, value in bag.read("run.mcap"):
        ...
    with bag.write("out.mcap") as out:
        out.add("camera/image", image)
"""
from edge.bag.info import bag_info as info
from edge.bag.reader import BagError, BagMessage, read, read_messages
from edge.bag.writer import BagWriter


def write(path: str, *, compression: str = "none") -> BagWriter:
    """A writer for a new MCAP file at `path`; use it as a context manager."""
    return BagWriter(path, compression=compression)


__all__ = ["BagError", "BagMessage", "BagWriter", "info", "read", "read_messages", "write"]

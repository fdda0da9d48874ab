"""ShmFrame: where a shared-memory frame lives, sent instead of its bytes on one host.

The publisher's process `pid` holds a memfd as file descriptor `fd` (inode `inode`);
the array is `shape`/`dtype` at `offset`, valid while the segment's generation counter
(the first 8 bytes, little-endian) still equals `generation`. edge/memory/shm.py maps it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from messages.codec import DecodeError, check_dtype
from messages.schema import Schema, need


@dataclass
class ShmFrame(Schema):
    TYPE = "ShmFrame"
    pid: int
    fd: int
    inode: int
    generation: int
    offset: int
    dtype: str
    shape: list = field(default_factory=list)

    def validate(self) -> None:
        for name in ("pid", "fd", "inode", "generation", "offset"):
            value = getattr(self, name)
            need(type(value) is int and value >= 0, f"ShmFrame {name} must be an int >= 0")
        need(type(self.shape) is list and len(self.shape) <= 32
             and all(type(d) is int and d >= 0 for d in self.shape),
             f"ShmFrame shape must be a list of at most 32 ints >= 0, got {self.shape!r}")
        try:
            check_dtype(self.dtype)
        except DecodeError as exc:
            need(False, str(exc))

    @classmethod
    def of(cls, pid: int, fd: int, inode: int, generation: int, offset: int, dtype: str,
           shape: list) -> "ShmFrame":
        """The publisher's own descriptor: built from values it made, so not re-validated."""
        frame = cls.__new__(cls)
        frame.__dict__.update(pid=pid, fd=fd, inode=inode, generation=generation, offset=offset,
                              dtype=dtype, shape=shape)
        return frame

    def to_wire(self) -> dict:
        return dict(self.__dict__)

    @property
    def nbytes(self) -> int:
        count = 1
        for dim in self.shape:
            count *= dim
        return count * check_dtype(self.dtype).itemsize

"""Shared-memory frames on one host: a publisher's pool of memfd segments, readers' views.

A segment is a memfd (no name in /dev/shm, so nothing outlives the processes that map
it, even after kill -9): 64 header bytes holding a generation counter, then the frame.
Readers open it through /proc/<pid>/fd/<fd> read-only and cache the mapping.

Who may touch a segment is settled with open-file-description locks (released by the
kernel when a process dies): the publisher takes a write lock to loan a segment and
drops it on publish; a reader takes a read lock before checking the generation and holds
it for as long as any view of the frame is alive. So a loan skips segments readers still
hold, and a reader whose frame was reused before it got there sees a new generation and
counts a drop instead of a torn frame.

On the wire the frame travels as a ShmFrame value on topic frame `topic + "\\0shm"`;
the publisher's XPUB socket tells it which forms have subscribers, so remote (tcp) or
shm-unaware subscribers of the plain topic still get a copy.
"""
from __future__ import annotations

import collections
import fcntl
import math
import mmap
import os
import struct
import weakref
from typing import Optional

import numpy as np

from edge.errors import ResourceExhausted
from messages.codec import check_dtype, wire_dtype
from messages.shm import ShmFrame

SHM_SUFFIX = "\x00shm"
HEADER_BYTES = 64  # generation counter, padded to a cache line
DEFAULT_SLOTS = 4
MAX_SLOTS = 16
_FLOCK = struct.Struct("hhxxxxqqixxxx")  # struct flock: l_type, l_whence, l_start, l_len, l_pid


def _lock(fd: int, kind: int) -> bool:
    """A non-blocking whole-file OFD lock; False if another open file holds a conflicting one."""
    try:
        fcntl.fcntl(fd, fcntl.F_OFD_SETLK, _FLOCK.pack(kind, os.SEEK_SET, 0, 0, 0))
        return True
    except (BlockingIOError, PermissionError):
        return False


class Segment:
    """One memfd the publisher writes frames into."""

    def __init__(self, data_bytes: int):
        self.fd = os.memfd_create("edge-shm", os.MFD_CLOEXEC)
        self.size = HEADER_BYTES + data_bytes
        os.ftruncate(self.fd, self.size)
        self.inode = os.fstat(self.fd).st_ino
        self.map = mmap.mmap(self.fd, self.size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        self.generation = np.frombuffer(self.map, np.uint64, 1, 0)
        self.loaned = False  # handed out by loan() and not yet published

    def close(self) -> None:
        self.generation = None
        try:
            self.map.close()
        except BufferError:  # a loaned array is still alive; the mapping goes with it
            pass
        os.close(self.fd)


class FramePool:
    """A node's segments; `loan` returns a writable array inside one of them.

    Frames rotate through `slots` segments, so a reader that falls more than `slots`
    frames behind finds its frame overwritten (a counted drop); segments readers still
    hold are skipped, and the pool grows up to `max_slots` before a loan fails.
    """

    def __init__(self, slots: int = DEFAULT_SLOTS, max_slots: int = MAX_SLOTS):
        self._segments: list[Segment] = []
        self._slots, self._max_slots = slots, max(slots, max_slots)
        self._loans: dict[int, tuple] = {}  # id(array) -> (segment, generation, finalizer)

    def loan(self, shape, dtype) -> np.ndarray:
        dtype = np.dtype(dtype)
        wire_dtype(dtype)  # refuse what cannot be sent before anyone writes into it
        shape = tuple(int(d) for d in (shape if isinstance(shape, (tuple, list)) else (shape,)))
        if any(d < 0 for d in shape):
            raise ValueError(f"loan: negative dim in shape {list(shape)}")
        nbytes = math.prod(shape) * dtype.itemsize  # Python ints: an int64 count could wrap
        segment = self._free_segment(nbytes)
        segment.generation[0] += 1
        segment.loaned = True
        array = np.ndarray(shape, dtype, buffer=segment.map, offset=HEADER_BYTES)
        key = id(array)
        self._loans[key] = (segment, int(segment.generation[0]),
                            weakref.finalize(array, self._abandon, key, segment))
        return array

    def _abandon(self, key: int, segment: Segment) -> None:
        """A loaned array was dropped unpublished: the segment is free again."""
        if self._loans.get(key, (None,))[0] is segment:
            del self._loans[key]
            segment.loaned = False
            if segment.generation is not None:
                _lock(segment.fd, fcntl.F_UNLCK)

    def _free_segment(self, nbytes: int) -> Segment:
        """A new segment up to `slots`, then the least recently loaned one no reader holds."""
        segments = self._segments  # least recently loaned first
        for index, segment in enumerate(segments if len(segments) >= self._slots else ()):
            if not segment.loaned and _lock(segment.fd, fcntl.F_WRLCK):
                del segments[index]
                if segment.size - HEADER_BYTES < nbytes:
                    segment.close()  # readers mapping it keep their pages; the memfd dies with them
                    break
                segments.append(segment)
                return segment
        if len(segments) >= self._max_slots:
            raise ResourceExhausted(f"all {len(segments)} shared-memory frames are loaned "
                                    "or held by readers")
        segment = Segment(nbytes)
        _lock(segment.fd, fcntl.F_WRLCK)
        segments.append(segment)
        return segment

    def is_loaned(self, array) -> bool:
        return isinstance(array, np.ndarray) and id(array) in self._loans

    def release(self, array: np.ndarray) -> ShmFrame:
        """End a loan: the array becomes read-only here, readers may map it; its descriptor."""
        segment, generation, finalizer = self._loans.pop(id(array))
        finalizer.detach()
        segment.loaned = False
        array.flags.writeable = False
        _lock(segment.fd, fcntl.F_UNLCK)
        return ShmFrame.of(os.getpid(), segment.fd, segment.inode, generation, HEADER_BYTES,
                           wire_dtype(array.dtype), list(array.shape))

    def close(self) -> None:
        for _, _, finalizer in self._loans.values():
            finalizer.detach()
        self._loans.clear()
        for segment in self._segments:
            segment.close()
        self._segments.clear()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


class _Mapping:
    def __init__(self, frame: ShmFrame):
        self.fd = os.open(f"/proc/{frame.pid}/fd/{frame.fd}", os.O_RDONLY | os.O_CLOEXEC)
        try:
            stat = os.fstat(self.fd)
            if stat.st_ino != frame.inode:
                raise OSError(f"fd {frame.fd} of pid {frame.pid} is no longer the frame's segment")
            self.size = stat.st_size
            self.map = mmap.mmap(self.fd, self.size, mmap.MAP_SHARED, mmap.PROT_READ)
        except BaseException:
            os.close(self.fd)
            raise
        self.generation = np.frombuffer(self.map, np.uint64, 1, 0)
        self.inode = frame.inode
        self.leases = 0

    def close(self) -> None:
        os.close(self.fd)


class ShmReader:
    """One input's mappings of publishers' segments; hands out read-only leased views."""

    def __init__(self, max_mappings: int = 2 * MAX_SLOTS):
        self._mappings: collections.OrderedDict = collections.OrderedDict()
        self._max = max_mappings

    def view(self, frame: ShmFrame) -> Optional[np.ndarray]:
        """The frame as a read-only array, or None when it was overwritten before we got here.

        Raises OSError when the segment cannot be opened (publisher gone, not this host).
        """
        mapping = self._mapping(frame)
        dtype = check_dtype(frame.dtype)
        if frame.offset + frame.nbytes > mapping.size:
            raise OSError(f"frame of {frame.nbytes} bytes at {frame.offset} "
                          f"overruns its {mapping.size}-byte segment")
        if not _lock(mapping.fd, fcntl.F_RDLCK):
            return None  # the publisher is writing into it again
        if int(mapping.generation[0]) != frame.generation:
            if mapping.leases == 0:  # locks of one open file merge: keep those of live views
                _lock(mapping.fd, fcntl.F_UNLCK)
            return None
        mapping.leases += 1
        base = np.frombuffer(mapping.map, dtype, frame.nbytes // dtype.itemsize if dtype.itemsize else 0,
                             frame.offset)
        weakref.finalize(base, self._unlease, mapping)
        return base.reshape(frame.shape)

    @staticmethod
    def _unlease(mapping: _Mapping) -> None:
        mapping.leases -= 1
        if mapping.leases == 0 and mapping.fd >= 0:
            _lock(mapping.fd, fcntl.F_UNLCK)
            if getattr(mapping, "evicted", False):
                mapping.close()
                mapping.fd = -1

    def _mapping(self, frame: ShmFrame) -> _Mapping:
        key = (frame.pid, frame.fd)
        mapping = self._mappings.get(key)
        if mapping is not None and mapping.inode == frame.inode:
            self._mappings.move_to_end(key)
            return mapping
        # A miss: first let go of what can no longer be current, so a reader does not keep
        # replaced segments (same fd, new inode) or a dead publisher's memory mapped.
        if mapping is not None:
            self._evict(self._mappings.pop(key))
        for old in [k for k in self._mappings if k[0] != frame.pid and not _alive(k[0])]:
            self._evict(self._mappings.pop(old))
        mapping = self._mappings[key] = _Mapping(frame)
        while len(self._mappings) > self._max:
            self._evict(self._mappings.popitem(last=False)[1])
        return mapping

    @staticmethod
    def _evict(mapping: _Mapping) -> None:
        mapping.evicted = True
        if mapping.leases == 0:
            mapping.close()
            mapping.fd = -1

    def close(self) -> None:
        for mapping in self._mappings.values():
            self._evict(mapping)
        self._mappings.clear()

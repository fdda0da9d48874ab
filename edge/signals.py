"""SIGINT/SIGTERM become one Stop request; a pipe wakes the loop from any thread."""
from __future__ import annotations

import atexit
import os
import signal
import threading
import weakref
from typing import Callable, Optional


class StopSignals:
    """Installs handlers (main thread only) that call `on_stop(signum)`.

    A second signal restores the previous handlers and raises KeyboardInterrupt, so a
    stuck node can still be interrupted by hand.
    """

    def __init__(self, on_stop: Callable[[Optional[int]], None], enabled: bool = True):
        self._on_stop = on_stop
        self._read, self._write = os.pipe()
        self._fds_lock = threading.Lock()  # no wake() writes into an fd number close() gave up
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self._previous: dict = {}
        self._previous_wakeup_fd: Optional[int] = None
        self._seen = 0
        if enabled and threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
            # The kernel may deliver the signal to any thread (zmq's I/O threads too); then
            # the Python handler waits for the main thread, which may sleep in a poll.
            # The wakeup fd is written at once, from whichever thread, and wakes that poll.
            self._previous_wakeup_fd = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)

    @property
    def wake_fd(self) -> int:
        return self._read

    def _handle(self, signum: int, frame) -> None:
        self._seen += 1
        if self._seen > 1:
            self.restore()
            raise KeyboardInterrupt
        self._on_stop(signum)

    def wake(self) -> None:
        with self._fds_lock:
            if self._write < 0:
                return  # closed: the number may belong to another file by now
            try:
                os.write(self._write, b"x")
            except (BlockingIOError, OSError):
                pass  # already awake

    def clear(self) -> None:
        if self._read < 0:
            return
        try:
            os.read(self._read, 4096)
        except (BlockingIOError, OSError):
            pass

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
        if self._previous_wakeup_fd is not None:
            signal.set_wakeup_fd(self._previous_wakeup_fd)
            self._previous_wakeup_fd = None

    def close(self) -> None:
        if threading.current_thread() is threading.main_thread():
            self.restore()
        with self._fds_lock:  # once only: a second close would close others' reused numbers
            fds, self._read, self._write = (self._read, self._write), -1, -1
        for fd in fds:
            if fd >= 0:
                os.close(fd)


def close_at_exit(owner: object, close: Callable[[object], None]) -> Callable[[], None]:
    """Call `close(owner)` at interpreter exit, unless `owner` is gone by then; returns the
    hook, for atexit.unregister when the owner closes first.

    For owners of daemon threads that may be inside a native library (onnxruntime): one
    that comes back while the interpreter is finalizing is ended by CPython inside
    pybind11's GIL re-acquire, which aborts the process (std::terminate)."""
    owner_ref, pid = weakref.ref(owner), os.getpid()

    def hook() -> None:
        alive = owner_ref()
        # never in a forked child: its copies of the owner's zmq sockets must not be touched
        if alive is not None and os.getpid() == pid:
            close(alive)

    atexit.register(hook)
    return hook

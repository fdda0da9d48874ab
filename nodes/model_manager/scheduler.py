"""The worker pool: which queued batch runs next, on which thread.

One condition variable guards every model queue. Workers take the most
urgent ready batch across all models (priority, then arrival), so different
models run in parallel while each model runs at most ``instance_count``
batches at once (or between ``min_workers`` and ``max_workers``, by queue
depth). Callers only ever enqueue; they never wait here, except that an idle
scheduler lets a caller run a quick request itself (``run_inline``).
"""
from __future__ import annotations

import atexit
import itertools
import logging
import threading
import time
from collections.abc import Callable

from edge.errors import DeadlineExceeded, FailedPrecondition, Internal, Unavailable
from edge.signals import close_at_exit
from .batching import Request
from .execution import LoadedModel, Outcome, deliver, failure, run_batch, run_one
from .inline import shape_key

log = logging.getLogger("edge.model_manager")

IDLE_WAIT_S = 0.5
EXIT_TIMEOUT_S = 5.0  # how long interpreter exit waits for runs in progress
Picked = tuple[LoadedModel, list[Request]]


class Scheduler:
    def __init__(self, workers: int) -> None:
        self._lock = threading.Lock()  # `with self._lock`: C-level, where Condition's own
        self._cond = threading.Condition(self._lock)  # __enter__/__exit__ are Python calls
        self._models: dict[str, LoadedModel] = {}
        self._orphans: list[Outcome] = []
        self._seq = itertools.count()
        self._running = 0  # batches being run or delivered, by workers or inline
        self._stopping = False
        self._threads = [threading.Thread(target=self._work, name=f"model-worker-{i}",
                                          daemon=True) for i in range(workers)]
        for thread in self._threads:
            thread.start()
        # Workers are daemon threads that run onnxruntime: a program that never closes its
        # manager still stops them before the interpreter finalizes (edge.signals).
        self._at_exit = close_at_exit(self, lambda scheduler: scheduler.close(EXIT_TIMEOUT_S))

    @property
    def running(self) -> bool:
        return not self._stopping and all(t.is_alive() for t in self._threads)

    def get(self, uid: str) -> LoadedModel | None:
        return self._models.get(uid)  # one dict read is atomic: no lock needed

    def add(self, model: LoadedModel) -> None:
        with self._lock:
            self._models[model.uid] = model

    def remove(self, uid: str) -> LoadedModel | None:
        """Queued requests are answered UNAVAILABLE by a worker, not by this caller."""
        with self._lock:
            model = self._models.pop(uid, None)
            if model is not None:
                gone = Unavailable(f"model {uid} was unloaded", {"uid": uid})
                self._orphans += [failure(model, r, gone) for r in model.queue.drain()]
                self._cond.notify_all()
            return model

    def submit(self, model: LoadedModel, request: Request) -> None:
        with self._lock:
            if self._stopping:
                raise Unavailable("the model manager is shutting down")
            if self._models.get(model.uid) is not model:
                raise FailedPrecondition(f"model {model.uid} is not loaded", {"uid": model.uid})
            request.seq = next(self._seq)
            model.queue.push(request)
            self._cond.notify()

    def run_inline(self, model: LoadedModel, request: Request,
                   allowed: bool | Callable[[], bool] = True) -> object | None:
        """Run `request` on this thread if nothing is queued or running, its model does not
        batch and its input shapes have run quickly (see inline.py): the ForwardResult or
        EdgeError. None when not taken; nothing was done then, so `submit` it. A callable
        `allowed` is asked last, only when the rest would let the request run here."""
        if model.queue.batching:
            return None
        shapes = shape_key(request.inputs)
        if not model.quick.allows(shapes) or (callable(allowed) and not allowed()):
            return None
        with self._lock:
            if self._running or self._stopping or self._models.get(model.uid) is not model:
                return None
            for other in self._models.values():
                if other.queue:  # something waits for a worker: queue behind it
                    return None
            request.seq = next(self._seq)
            self._running += 1
            model.queue.inflight += 1
        try:
            return run_one(model, request, shapes)
        except Exception as exc:  # a bug, but the caller must still get an answer
            log.exception("inline run of model %s failed unexpectedly", model.uid)
            return failure(model, request, Internal(f"internal error: {exc}"))[1]
        finally:
            with self._lock:
                self._running -= 1
                model.queue.inflight -= 1
                if len(model.queue):  # queued meanwhile by another thread
                    self._cond.notify()

    def close(self, timeout_s: float) -> None:
        atexit.unregister(self._at_exit)
        with self._lock:
            self._stopping = True
            self._cond.notify_all()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            gone = Unavailable("the model manager shut down")
            left = self._orphans + [failure(m, r, gone) for m in self._models.values()
                                    for r in m.queue.drain()]
            self._orphans = []
        for request, value in left:
            deliver(request, value)

    def _work(self) -> None:
        while (job := self._next_job()) is not None:
            outcomes, picked = job
            if picked is not None:
                model, batch = picked
                try:
                    outcomes += run_batch(model, batch)
                except Exception as exc:  # a bug, but callers must still get an answer
                    log.exception("batch for model %s failed unexpectedly", model.uid)
                    wrapped = Internal(f"internal error: {exc}")
                    outcomes += [failure(model, r, wrapped) for r in batch]
                finally:
                    with self._lock:
                        model.queue.inflight -= 1
                        if len(model.queue):  # this worker delivers first: let another run it
                            self._cond.notify()
            for request, value in outcomes:
                deliver(request, value)
            if picked is not None:  # busy until its callers have their answers
                with self._lock:
                    self._running -= 1

    def _next_job(self) -> tuple[list[Outcome], Picked | None] | None:
        with self._lock:
            while not self._stopping:
                now_ns = time.monotonic_ns()
                outcomes, self._orphans = self._orphans, []
                outcomes += self._expire(now_ns)
                picked, wake_ns = self._pick(now_ns)
                if outcomes or picked:
                    return outcomes, picked
                wait_s = IDLE_WAIT_S if wake_ns is None else (wake_ns - now_ns) / 1e9
                self._cond.wait(min(IDLE_WAIT_S, max(wait_s, 0.0)))
            return None

    def _expire(self, now_ns: int) -> list[Outcome]:
        outcomes = []
        for model in self._models.values():
            for request in model.queue.pop_expired(now_ns):
                exc = DeadlineExceeded("deadline passed while the request was queued",
                                       {"request_id": request.request_id})
                outcomes.append(failure(model, request, exc))
        return outcomes

    def _pick(self, now_ns: int) -> tuple[Picked | None, int | None]:
        """Most urgent ready batch first; otherwise the earliest time worth waking."""
        wakes = []
        waiting = [m for m in self._models.values() if m.queue.head_key() is not None]
        for model in sorted(waiting, key=lambda m: m.queue.head_key()):
            batch, wake_ns = model.queue.take_batch(now_ns)
            if batch:
                self._running += 1
                model.queue.inflight += 1
                return (model, batch), None
            wakes += [t for t in (wake_ns, model.queue.next_deadline_ns()) if t is not None]
        return None, min(wakes, default=None)

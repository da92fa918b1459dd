"""Deliveries on a few threads, every database statement on the thread that owns them.

The push overlaps the requests of different complaints (``push_concurrency``), but its database
work stays on one thread: on SQLite there is one writer, and a claim's re-check, which a
delivery needs right before each request (:mod:`lapor_sync.sync.claims`), is run for the worker
by the owner (:meth:`DeliveryPool.on_owner`). Without that, two threads of one pusher would
write at once, and SQLite would make one of them wait or fail with ``database is locked``.

Waits are bounded: a worker waits for the owner at most ``wait_seconds``; the owner waits for a
finished delivery at most ``wait_seconds``, serving the workers meanwhile.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K")
T = TypeVar("T")
R = TypeVar("R")


class DeliveryPool(Generic[K, R]):
    """``size`` worker threads whose database work the owning thread does.

    Args:
        size: at most this many deliveries run at once (>= 1).
        wait_seconds: the longest the owner waits for one delivery to finish, and a worker for
            the owner to run its statement; past it, :class:`TimeoutError` (a delivery stuck
            beyond every request's deadline, or an owner stuck in the database).

    Use it as a context manager from the owning thread (the workers start on entry); on exit it
    waits for the deliveries still running (each bounded by its requests' deadlines). Its own
    threads and queues, not an executor's futures: a hand-off per request is the push's hot path,
    and a future's condition variable and callbacks cost more than the two queue operations here.
    """

    def __init__(self, size: int, wait_seconds: float) -> None:
        self.size, self._wait = size, wait_seconds
        self._jobs: queue.SimpleQueue[tuple[K, Callable[[], R]] | None] = queue.SimpleQueue()
        self._inbox: queue.SimpleQueue[_Message] = queue.SimpleQueue()
        self._workers = [threading.Thread(target=self._serve, name=f"lapor-push-{n}") for n in range(size)]
        self.running = 0

    def __enter__(self) -> DeliveryPool[K, R]:
        try:
            for worker in self._workers:
                worker.start()
        except BaseException:  # a thread that could not start: stop those that did, or they wait for ever
            self.__exit__()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        # The workers are not daemons: one never told to stop would keep the process from exiting.
        try:
            while not self._jobs.empty():  # not started yet: dropped, as an executor cancels them
                self._jobs.get_nowait()
        finally:
            for _ in self._workers:
                self._jobs.put(None)
            for worker in self._workers:
                if worker.ident is not None:  # started
                    worker.join()

    @property
    def free(self) -> int:
        """How many more deliveries may start now."""
        return self.size - self.running

    def start(self, key: K, work: Callable[[], R]) -> None:
        """Run ``work`` on a worker; :meth:`finished` hands back ``key`` with its result once it ends."""
        self._jobs.put((key, work))
        self.running += 1

    def on_owner(self, statement: Callable[[], T]) -> T:
        """From a worker: have the owning thread run ``statement``; return its result or raise its error.

        Raises:
            TimeoutError: the owner did not answer within ``wait_seconds``; the statement is then
                skipped, or, if the owner began it just then, its answer is ignored (for a claim's
                re-check that is safe: the worker sends nothing without an answer).
        """
        answered = threading.Lock()  # held until the owner has answered: a one-shot signal, cheaper than an Event
        answered.acquire()
        outcome: list[object] = []
        cancelled: list[bool] = []

        def run() -> None:
            if cancelled:
                return  # the worker gave up waiting: it must not be run late
            try:
                outcome.append((True, statement()))
            except BaseException as exc:  # noqa: BLE001 - handed to the worker that asked
                outcome.append((False, exc))
            answered.release()

        self._inbox.put(run)
        if not answered.acquire(timeout=self._wait):
            cancelled.append(True)
            if not answered.acquire(blocking=False):
                raise TimeoutError(f"the push's database thread did not answer within {self._wait:g} s")
        ok, value = outcome[0]  # type: ignore[misc]
        if not ok:
            raise value  # type: ignore[misc]
        return value  # type: ignore[return-value]

    def finished(self) -> list[tuple[K, Done[R]]]:
        """On the owner: serve the workers until at least one delivery has ended; return those that have.

        Returns at once (empty) when none is running.

        Raises:
            TimeoutError: none ended within ``wait_seconds``.
        """
        ended: list[tuple[K, Done[R]]] = []
        deadline = time.monotonic() + self._wait
        while self.running and not ended:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no push delivery ended within {self._wait:g} s")
            try:
                self._take(self._inbox.get(timeout=left), ended)
            except queue.Empty:
                continue
        while not self._inbox.empty():  # what else is there already, without waiting
            self._take(self._inbox.get_nowait(), ended)
        return ended

    def _take(self, message: _Message, ended: list[tuple[K, Done[R]]]) -> None:
        """Run a worker's statement, or note a delivery that ended."""
        if isinstance(message, _Ended):
            self.running -= 1
            ended.append((message.key, message.done))
        else:
            message()

    def _serve(self) -> None:
        """A worker: run deliveries until told to stop (``None``); hand each one's end to the owner."""
        while (job := self._jobs.get()) is not None:
            key, work = job
            try:
                done = Done[R](work())
            except BaseException as exc:  # noqa: BLE001 - handed to the owner, as a future would
                done = Done[R](None, exc)
            self._inbox.put(_Ended(key, done))


@dataclass(frozen=True)
class Done(Generic[R]):
    """How a delivery ended: its value, or the error it raised."""

    value: R | None
    error: BaseException | None = None

    def result(self) -> R:
        """The delivery's value; raises its error if it raised one."""
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


@dataclass(frozen=True)
class _Ended(Generic[K, R]):
    key: K
    done: Done[R]


_Message = _Ended | Callable[[], None]

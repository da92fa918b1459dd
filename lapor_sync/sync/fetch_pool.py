"""The pull's fetch pool: reads of different complaints overlap, a bounded number at a time.

A read of one complaint is a detail call and its follow-up pages: most of its time is spent waiting
for LAPOR!'s answers, so a few reads under way at once bring a page in several times faster
(issue 12). The reads run in worker threads over the one HTTP client (``httpx.Client`` is
thread-safe; its pool keeps up to 20 connections alive, more than any pool here). They never touch
the database: the caller's thread stores what they read, the one writer SQLite allows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import TypeVar

K = TypeVar("K")
R = TypeVar("R")


class FetchPool:
    """Up to ``size`` reads under way at once, for as long as the pool is open (one walk of the inbox).

    ``checkpoint()`` runs right before each read starts (in the thread that makes it), as between
    the items of a run: a stop or a lost lease raises there, so no read starts after it. Closing
    the pool cancels the reads not yet started and waits for those under way, each bounded by its
    own request deadline: no thread runs on after it.

    Args:
        size: reads under way at once, at least 1 (1: each read in the caller's thread, when its
            result is asked for).
        checkpoint: the run's checkpoint (:meth:`~lapor_sync.sync.journal.RunJournal.checkpoint`).
    """

    def __init__(self, size: int, checkpoint: Callable[[], None]) -> None:
        self._checkpoint = checkpoint
        self._pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="lapor-sync-fetch") if size > 1 else None

    def __enter__(self) -> FetchPool:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def start(self, read: Callable[[K], R], keys: Sequence[K]) -> Iterator[tuple[K, R]]:
        """Start reading ``keys`` now (after the reads started before); iterate for ``(key, read(key))`` in order.

        An error from a read or its checkpoint is raised by the iteration when its key's turn
        comes; the reads of these keys not yet started are then cancelled.

        Args:
            read: reads one complaint; called from a worker thread (no database, no journal).
            keys: what to read, e.g. complaint ids.
        """
        if self._pool is None:
            return self._inline(read, keys)
        return _in_order(keys, [self._pool.submit(self._checked, read, key) for key in keys])

    def _inline(self, read: Callable[[K], R], keys: Sequence[K]) -> Iterator[tuple[K, R]]:
        for key in keys:
            self._checkpoint()
            yield key, read(key)

    def _checked(self, read: Callable[[K], R], key: K) -> R:
        self._checkpoint()
        return read(key)


def _in_order(keys: Sequence[K], futures: Sequence[Future[R]]) -> Iterator[tuple[K, R]]:
    """Yield each key with its read's result, in order; on the way out, cancel the reads not started."""
    try:
        for key, future in zip(keys, futures, strict=True):
            yield key, future.result()  # bounded by the read's own deadline
    finally:
        for future in futures:
            future.cancel()

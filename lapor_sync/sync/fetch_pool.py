"""The pull's fetch pool: reads of different complaints overlap, a bounded number at a time.

A read of one complaint is a detail call and its follow-up pages: most of its time is spent waiting
for LAPOR!'s answers, so a few reads under way at once bring a page in several times faster
(issue 12). The reads run in worker threads over the one HTTP client (``httpx.Client`` is
thread-safe; its pool keeps up to 20 connections alive, more than any pool here). They never touch
the database: the caller's thread stores what they read, the one writer SQLite allows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

K = TypeVar("K")
R = TypeVar("R")


def read_in_order(
    read: Callable[[K], R], keys: Sequence[K], *, size: int, checkpoint: Callable[[], None]
) -> Iterator[tuple[K, R]]:
    """Yield ``(key, read(key))`` for each key, in the order of ``keys``, with up to ``size`` reads under way.

    ``checkpoint()`` runs right before each read starts (in the thread that makes it), as between
    the items of a run: a stop or a lost lease raises there, so no read starts after it. An error
    from a read or its checkpoint is raised here when its turn comes. Before it propagates (or when
    the caller stops iterating), the reads not yet started are cancelled and those under way are
    waited for, each bounded by its own request deadline: no thread runs on after this returns.

    Args:
        read: reads one complaint; called from a worker thread (no database, no journal).
        keys: what to read, e.g. complaint ids.
        size: reads under way at once, at least 1 (1: each read in the caller's thread, in turn).
        checkpoint: the run's checkpoint (:meth:`~lapor_sync.sync.journal.RunJournal.checkpoint`).

    Raises:
        Whatever ``read`` or ``checkpoint`` raise, for the first key (in order) whose read failed.
    """
    if size <= 1 or len(keys) <= 1:
        for key in keys:
            checkpoint()
            yield key, read(key)
        return

    def checked(key: K) -> R:
        checkpoint()
        return read(key)

    pool = ThreadPoolExecutor(max_workers=min(size, len(keys)), thread_name_prefix="lapor-sync-fetch")
    try:
        futures = [pool.submit(checked, key) for key in keys]
        for key, future in zip(keys, futures, strict=True):
            yield key, future.result()  # bounded by the read's own deadline
    finally:
        pool.shutdown(wait=True, cancel_futures=True)

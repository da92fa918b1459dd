"""The pull's fetch pool: reads overlap, results come in order, and an error leaves no read running."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from lapor_sync.sync.fetch_pool import FetchPool

WAIT = 10  # seconds: bounds a wait that only a broken pool would reach
K = TypeVar("K")
R = TypeVar("R")


def read_in_order(
    read: Callable[[K], R], keys: list[K], *, size: int, checkpoint: Callable[[], None]
) -> Iterator[tuple[K, R]]:
    """Read ``keys`` in a pool of ``size`` open for the iteration alone."""
    with FetchPool(size, checkpoint) as pool:
        yield from pool.start(read, keys)


def test_reads_overlap_and_results_come_in_the_order_asked() -> None:
    second_done = threading.Event()

    def read(key: int) -> str:
        if key == 0:
            assert second_done.wait(WAIT), "the second read never ran while the first was under way"
        if key == 1:
            second_done.set()
        return f"read {key}"

    results = list(read_in_order(read, [0, 1, 2], size=2, checkpoint=lambda: None))

    assert results == [(0, "read 0"), (1, "read 1"), (2, "read 2")]


def test_an_error_comes_in_its_turn_once_the_reads_under_way_have_ended() -> None:
    first_under_way, first_done = threading.Event(), threading.Event()

    def read(key: int) -> str:
        if key == 0:
            first_under_way.set()
            assert first_done.wait(WAIT)
            return "read 0"
        assert first_under_way.wait(WAIT)
        first_done.set()
        raise ValueError(f"read {key} failed")

    reads = read_in_order(read, [0, 1], size=2, checkpoint=lambda: None)

    assert next(reads) == (0, "read 0")
    with pytest.raises(ValueError, match="read 1 failed"):
        next(reads)


@pytest.mark.parametrize("size", [1, 4])
def test_a_checkpoint_that_raises_starts_no_more_reads(size: int) -> None:
    stop = threading.Event()
    made: list[int] = []

    def checkpoint() -> None:
        if stop.is_set():
            raise InterruptedError

    def read(key: int) -> int:
        made.append(key)
        stop.set()  # a stop asked during the first read
        return key

    with pytest.raises(InterruptedError):
        list(read_in_order(read, list(range(20)), size=size, checkpoint=checkpoint))

    assert made and set(made) <= set(range(size))  # only reads already under way when the stop came

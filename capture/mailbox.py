"""The one box that joins two threads of a run (and a camera's reader thread to its consumer).

`Mailbox()` is a single slot where the newest item wins: `put` never waits, and an item replaced before
anyone took it is counted in `dropped`; `Mailbox(capacity=N)` or `hold(N)` keeps the newest N. That is what
keeps a live stream close to now when the engine is slower than the source. `Mailbox(capacity=N,
lossless=True)` is a queue of up to N items whose `put` waits for room instead, so that nothing is dropped
(files into files).

Either side can `cancel()` the box: everything in it is discarded, waiting threads wake, later `put`s
are refused and `get`s return None. The producer `close()`s it when no more items will come.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class Mailbox(Generic[T]):
    """Items between a producer thread and a consumer thread (see the module docstring)."""

    def __init__(self, capacity: int = 1, lossless: bool = False) -> None:
        if capacity < 1:
            raise ValueError(f"a mailbox holds at least one item, got capacity {capacity}")
        self.capacity = capacity
        self.lossless = lossless
        self._cond = threading.Condition()
        self._items: deque[T] = deque()
        self._closed = False
        self._cancelled = False
        self.dropped = 0  # items replaced before anyone took them (never when lossless)

    def put(self, item: T) -> bool:
        """Leave `item`. A full lossless box waits for room; a full lossy one drops its oldest item.
        Returns False (and discards `item`) when the box was cancelled."""
        with self._cond:
            if self.lossless:
                self._cond.wait_for(lambda: len(self._items) < self.capacity or self._cancelled)
            if self._cancelled:
                return False
            if self._closed:
                raise RuntimeError("put into a closed mailbox: the producer already said no more items come")
            if len(self._items) >= self.capacity:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self._cond.notify_all()
            return True

    def get(self, timeout: float | None) -> T | None:
        """The oldest waiting item, or None after `timeout` seconds (None: wait as long as it takes), or
        when the box is closed and empty, or cancelled."""
        items = self.take(1, timeout)
        return items[0] if items else None

    def take(self, n: int, timeout: float | None) -> list[T]:
        """`n` items, oldest first; fewer only when the box is closed (the last ones), none after
        `timeout` seconds without `n` items or when cancelled."""
        n = min(n, self.capacity)
        with self._cond:
            self._cond.wait_for(lambda: len(self._items) >= n or self._closed or self._cancelled, timeout)
            if self._cancelled or (len(self._items) < n and not self._closed):
                return []
            items = [self._items.popleft() for _ in range(min(n, len(self._items)))]
            self._cond.notify_all()
            return items

    def hold(self, capacity: int) -> None:
        """Hold at most `capacity` items from now on; a lossy box drops its oldest beyond that (counted in
        `dropped`), so it keeps the newest `capacity`. The live pipeline sets it to the frames the engine's
        next chunk needs."""
        if capacity < 1:
            raise ValueError(f"a mailbox holds at least one item, got capacity {capacity}")
        with self._cond:
            self.capacity = capacity
            while not self.lossless and len(self._items) > capacity:
                self._items.popleft()
                self.dropped += 1
            self._cond.notify_all()

    def close(self) -> None:
        """No more items will come (what is in the box can still be taken)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def cancel(self) -> None:
        """Discard what is in the box, wake every waiting thread, refuse later items."""
        with self._cond:
            self._cancelled = True
            self._items.clear()
            self._cond.notify_all()

    @property
    def finished(self) -> bool:
        """Closed (or cancelled) and nothing left to take."""
        with self._cond:
            return (self._closed or self._cancelled) and not self._items

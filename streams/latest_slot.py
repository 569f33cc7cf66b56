"""A one-slot mailbox between a frame reader thread and its consumer: only the newest item is kept."""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

__all__ = ["LatestSlot"]

T = TypeVar("T")


class LatestSlot(Generic[T]):
    """Holds at most one item. ``put`` replaces an item nobody took (and counts it as dropped), so a slow
    consumer always gets the newest item and never falls behind (no lag creep).

    Thread-safe: one or more producers, one consumer.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._has_item = False
        self._closed = False
        self._dropped = 0

    @property
    def dropped(self) -> int:
        """Items replaced before anyone took them."""
        with self._cond:
            return self._dropped

    @property
    def exhausted(self) -> bool:
        """True once the slot is closed and its last item was taken: no item will ever come again."""
        with self._cond:
            return self._closed and not self._has_item

    def put(self, item: T) -> bool:
        """Store ``item``; returns True if it replaced an untaken item (a dropped one). Ignored after close."""
        with self._cond:
            if self._closed:
                return False
            replaced = self._has_item
            if replaced:
                self._dropped += 1
            self._item, self._has_item = item, True
            self._cond.notify_all()
            return replaced

    def get(self, timeout_s: float) -> T | None:
        """The newest item, waiting up to ``timeout_s``; None on timeout or when closed and empty."""
        with self._cond:
            if not self._has_item and not self._closed:
                self._cond.wait(timeout_s)
            if not self._has_item:
                return None
            item, self._item, self._has_item = self._item, None, False
            return item

    def close(self) -> None:
        """No more items will be put; a pending item can still be taken. Wakes a waiting consumer."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

"""Decode ahead on a background thread (lossless): the next frames are decoded while the caller runs the
detector on the current one. OpenCV releases the GIL while decoding, so this overlaps for real."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

__all__ = ["read_ahead"]

T = TypeVar("T")


class _Done:
    """The producer's end-of-items marker."""


_DONE = _Done()
_POLL_S = 0.1


def read_ahead(items: Iterator[T], depth: int = 2, name: str = "read-ahead") -> Iterator[T]:
    """Yields what ``items`` yields, in order, with up to ``depth`` items produced in advance. An exception in
    the producer is re-raised in the consumer. Closing the generator stops the producer."""
    q: queue.Queue[T | _Done] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()
    error: list[BaseException] = []

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=_POLL_S)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        except BaseException as exc:  # handed to the consumer
            error.append(exc)
        finally:
            while not stop.is_set():
                try:
                    q.put(_DONE, timeout=_POLL_S)
                    break
                except queue.Full:
                    continue

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if isinstance(item, _Done):
                if error:
                    raise error[0]
                return
            yield item
    finally:
        stop.set()
        thread.join(timeout=1.0)

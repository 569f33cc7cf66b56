"""Realtime replay: decode a recorded source at its own frame rate in a background thread, keep the newest."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np

from streams.latest_slot import LatestSlot

__all__ = ["PacedReader"]

logger = logging.getLogger(__name__)

_POLL_S = 0.1  # how often a waiting consumer re-checks for close()
_JOIN_TIMEOUT_S = 5.0  # close() waits this long for the reader thread


class PacedReader:
    """Plays ``frames`` like a live camera.

    A background thread pulls ``(index, image)`` pairs from ``frames`` and publishes each one at
    ``start + (index - first_index) / fps`` (media time mapped to wall time) into a one-slot buffer. A consumer
    slower than ``fps`` gets the newest frame; the frames it missed are counted in :attr:`dropped`. Indices pass
    through unchanged (the file position), so output still lines up with ground truth.

    Args:
        frames: iterator of (1-based index, (H, W, 3) uint8 BGR image); runs in the reader thread only.
        fps: replay rate (> 0).
        name: thread name (for debugging).
        on_end: called in the reader thread once ``frames`` is exhausted (or raised), before consumers see the end.
    """

    def __init__(self, frames: Iterator[tuple[int, np.ndarray]], fps: float, name: str,
                 on_end: Callable[[], None] | None = None) -> None:
        if fps <= 0:
            raise ValueError(f"PacedReader: fps = {fps} must be > 0")
        self._frames = frames
        self._fps = fps
        self._on_end = on_end
        self._slot: LatestSlot[tuple[int, np.ndarray]] = LatestSlot()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._error: BaseException | None = None

    @property
    def dropped(self) -> int:
        return self._slot.dropped

    def start(self) -> None:
        if not self._thread.is_alive() and self._thread.ident is None:
            self._thread.start()

    def _run(self) -> None:
        start_s = time.monotonic()
        first_index: int | None = None
        try:
            for index, image in self._frames:
                if first_index is None:
                    first_index = index
                due_s = start_s + (index - first_index) / self._fps
                wait_s = due_s - time.monotonic()
                if wait_s > 0 and self._stop.wait(wait_s):
                    break
                if self._stop.is_set():
                    break
                self._slot.put((index, image))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises it
            self._error = exc
        finally:
            try:
                if self._on_end is not None:
                    self._on_end()
            finally:
                self._slot.close()

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        """Newest frames until the source ends or :meth:`close` is called."""
        self.start()
        while not self._stop.is_set():
            item = self._slot.get(_POLL_S)
            if item is not None:
                yield item
            elif self._slot.exhausted:
                break
        if self._error is not None:
            raise self._error

    def close(self) -> bool:
        """Stop the reader thread; returns False if it did not stop within the join timeout."""
        self._stop.set()
        self._slot.close()
        if self._thread.ident is not None:
            self._thread.join(_JOIN_TIMEOUT_S)
            if self._thread.is_alive():
                logger.warning("realtime reader %s did not stop within %.0f s", self._thread.name, _JOIN_TIMEOUT_S)
                return False
        return True


def playback(decoded: Iterator[tuple[int, np.ndarray]], fps: float, name: str, realtime: bool,
             paced: PacedReader | None = None) -> tuple[Iterator[tuple[int, np.ndarray]], PacedReader | None]:
    """How a recorded source (file, image folder) yields its ``(index, image)`` pairs.

    realtime: paced at ``fps`` like a live camera (``paced`` is reused if given; newest frame kept, drops
    counted by the returned reader); otherwise every frame, decoded ahead on a background thread.
    """
    if not realtime:
        from streams.read_ahead import read_ahead

        return read_ahead(decoded, name=f"decode-{name}"), None
    if paced is None:
        paced = PacedReader(decoded, fps, name=f"replay-{name}")
    return iter(paced), paced

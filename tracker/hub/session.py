"""An in-process hub session for replays and benchmarks: Redis (embedded or URL), one publisher per camera and,
optionally, the hub itself, stepped by the caller."""

from __future__ import annotations

import logging

import numpy as np

from tracker.config import Config, ConfigError
from tracker.core.tracklet import TrackletUpdate

__all__ = ["HubSession"]

log = logging.getLogger(__name__)


class HubSession:
    """Owns a Redis handle, the cameras' publishers and (if ``run_hub``) a started :class:`tracker.hub.consumer.Hub`."""

    def __init__(self, cfg: Config, handle: object, publishers: dict[str, object], hub: object | None) -> None:
        self.cfg = cfg
        self.handle = handle
        self.publishers = publishers
        self.hub = hub

    @classmethod
    def open(cls, cfg: Config, cameras: list[str], run_hub: bool = True, fresh: bool = True) -> "HubSession":
        """Connect (an embedded Redis when ``redis.url`` is empty) and set up publishers and the hub.

        ``fresh``: a replay needs camera streams of its own; when the key prefix already holds this replay's
        cameras (a shared Redis), refuse rather than mix two runs' local track ids.
        """
        from tracker.bus.connection import connect
        from tracker.bus.publisher import TrackletPublisher
        from tracker.bus.schema import Keys
        from tracker.hub.consumer import Hub

        handle = connect(cfg.redis)
        try:
            client = handle.client  # type: ignore[attr-defined]
            keys = Keys(cfg.redis.key_prefix)
            if fresh and not handle.embedded:  # type: ignore[attr-defined]
                used = [c for c in cameras if client.exists(keys.updates(c))]
                if used:
                    raise ConfigError(
                        f"Redis {handle.display_url} already holds streams of camera(s) {used} under key prefix "  # type: ignore[attr-defined]
                        f"{cfg.redis.key_prefix!r}; a replay needs its own: pass --set redis.key_prefix=NEW "
                        f"(or use the embedded Redis: leave redis.url empty)")
            publishers = {c: TrackletPublisher(client, cfg, c) for c in cameras}
            hub = None
            if run_hub:
                hub = Hub(client, cfg)
                hub.start()
            log.info("hub session on %s: %d camera(s), hub %s", handle.display_url, len(cameras),  # type: ignore[attr-defined]
                     "running in-process" if hub else "not run here")
            return cls(cfg, handle, publishers, hub)
        except BaseException:
            handle.close()  # type: ignore[attr-defined]
            raise

    def publish(self, camera: str, updates: list[TrackletUpdate], image_bgr: np.ndarray | None,
                frame_index: int, timestamp_s: float) -> None:
        self.publishers[camera].publish(updates, image_bgr, frame_index=frame_index,  # type: ignore[attr-defined]
                                        timestamp_s=timestamp_s)

    def step(self) -> int:
        return self.hub.step() if self.hub is not None else 0  # type: ignore[attr-defined]

    def drain(self) -> int:
        return self.hub.drain() if self.hub is not None else 0  # type: ignore[attr-defined]

    def local_to_global(self, camera: str) -> dict[int, int]:
        from tracker.hub.queries import local_to_global

        return local_to_global(self.handle.client, self.cfg, camera)  # type: ignore[attr-defined]

    def close(self) -> None:
        try:
            if self.hub is not None:
                self.hub.close()  # type: ignore[attr-defined]
        finally:
            self.handle.close()  # type: ignore[attr-defined]

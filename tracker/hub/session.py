"""An in-process hub session for replays and benchmarks: Redis (embedded or URL), one publisher per camera and,
optionally, the hub itself, stepped by the caller.

The hub's lifecycle (connect, lock, discover, restore; step/drain; close) is :class:`tracker.hub.runner.HubRunner`'s,
the same one ``mctrack hub`` and ``mctrack run`` serve; a session only adds the publishers and drives the steps.
"""

from __future__ import annotations

import logging

import numpy as np

from tracker.bus.connection import RedisHandle
from tracker.bus.publisher import TrackletPublisher
from tracker.bus.schema import Keys
from tracker.config import Config, ConfigError
from tracker.core.tracklet import TrackletUpdate
from tracker.hub.consumer import Hub
from tracker.hub.queries import local_to_global
from tracker.hub.runner import HubRunner

__all__ = ["HubSession"]

log = logging.getLogger(__name__)


class HubSession:
    """Owns a :class:`HubRunner` (its Redis connection and, if the session runs the hub, the started hub) and the
    cameras' publishers. Make one with :meth:`open`."""

    def __init__(self, cfg: Config, runner: HubRunner, publishers: dict[str, TrackletPublisher]) -> None:
        self.cfg = cfg
        self.runner = runner
        self.publishers = publishers

    @property
    def handle(self) -> RedisHandle:
        """The session's Redis connection."""
        return self.runner.handle

    @property
    def hub(self) -> Hub | None:
        """The in-process hub, or None when the session does not run one."""
        return self.runner.hub

    @classmethod
    def open(cls, cfg: Config, cameras: list[str], run_hub: bool = True, fresh: bool = True) -> HubSession:
        """Connect (an embedded Redis when ``redis.url`` is empty) and set up publishers and the hub.

        ``fresh``: a replay needs camera streams of its own; when the key prefix already holds this replay's
        cameras (a shared Redis), refuse rather than mix two runs' local track ids.

        Raises:
            ConfigError: ``fresh`` and the key prefix already holds streams of these cameras, or Redis's URL is
                unusable.
            RedisUnavailableError: Redis cannot be reached.
            HubLockedError: ``run_hub`` and another hub is active for this key prefix.
        """
        runner = HubRunner(cfg)
        try:
            runner.connect()
            handle = runner.handle
            client = handle.client
            keys = Keys(cfg.redis.key_prefix)
            if fresh and not handle.embedded:
                used = [c for c in cameras if client.exists(keys.updates(c))]
                if used:
                    raise ConfigError(
                        f"Redis {handle.display_url} already holds streams of camera(s) {used} under key prefix "
                        f"{cfg.redis.key_prefix!r}; a replay needs its own: pass --set redis.key_prefix=NEW "
                        f"(or use the embedded Redis: leave redis.url empty)")
            publishers = {c: TrackletPublisher(client, cfg, c) for c in cameras}
            if run_hub:
                runner.start()
            log.info("hub session on %s: %d camera(s), hub %s", handle.display_url, len(cameras),
                     "running in-process" if run_hub else "not run here")
            return cls(cfg, runner, publishers)
        except BaseException:
            runner.close()
            raise

    def publish(self, camera: str, updates: list[TrackletUpdate], image_bgr: np.ndarray | None,
                frame_index: int, timestamp_s: float) -> None:
        self.publishers[camera].publish(updates, image_bgr, frame_index=frame_index, timestamp_s=timestamp_s)

    def step(self) -> int:
        """One hub step over what is published (0 when the session does not run the hub)."""
        return self.runner.step() if self.runner.hub is not None else 0

    def drain(self) -> int:
        """Process everything published and decide every deferred track (0 without a hub)."""
        return self.runner.drain() if self.runner.hub is not None else 0

    def local_to_global(self, camera: str) -> dict[int, int]:
        """The hub's local -> global id map of ``camera``."""
        return local_to_global(self.handle.client, self.cfg, camera)

    def close(self) -> None:
        """Release the hub's lock and close Redis (an embedded server stops)."""
        self.runner.close()

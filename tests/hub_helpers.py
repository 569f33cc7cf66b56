"""A synthetic multi-camera scene published frame by frame through the real publisher (shared by hub tests)."""

from __future__ import annotations

import itertools
import os

import numpy as np

from tracker.bus.publisher import TrackletPublisher
from tracker.config import Config, load_config
from tracker.core.tracklet import TrackletUpdate
from tracker.hub.consumer import Hub

DIM = 128
FPS = 10.0
_prefixes = itertools.count()


def make_cfg(*overrides: str) -> Config:
    """A config with its own key prefix, so tests sharing the server never see each other's keys."""
    return load_config(None, [f"redis.key_prefix=t{os.getpid()}x{next(_prefixes)}", *overrides])


class Scene:
    """Synthetic people with fixed appearances walking through cameras."""

    def __init__(self, n_people: int, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        look = self.rng.normal(size=(n_people, DIM)) + 0.5
        self.look = look / np.linalg.norm(look, axis=1, keepdims=True)

    def update(self, camera: str, local_id: int, person: int, frame: int, x: float = 10.0) -> TrackletUpdate:
        e = self.look[person] + self.rng.normal(scale=0.03, size=DIM)
        box = np.array([x + 2 * frame % 50, 20, x + 2 * frame % 50 + 30, 100], np.float32)
        return TrackletUpdate(camera, local_id, frame, (frame - 1) / FPS, box, 0.9,
                              (e / np.linalg.norm(e)).astype(np.float32), 0.9)


def run_frames(pubs: dict[str, TrackletPublisher], scene: Scene, frames: range,
               who: dict[str, dict[int, int]], hub: Hub | None = None, image: np.ndarray | None = None) -> None:
    """Publish ``who`` (camera -> local id -> person) for each frame; step the hub after each frame."""
    for f in frames:
        for camera, pub in pubs.items():
            ups = [scene.update(camera, lid, person, f, x=40.0 * i) for i, (lid, person) in
                   enumerate(who.get(camera, {}).items())]
            pub.publish(ups, image, frame_index=f, timestamp_s=(f - 1) / FPS)
        if hub is not None:
            hub.step()

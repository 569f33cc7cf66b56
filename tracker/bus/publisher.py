"""Worker side of the hub: publish a camera's confirmed-track updates to its Redis stream, one message per frame.

Every update carries box and confidence; the Re-ID embedding is attached on a cadence (first update of a track,
then every ``hub.embedding_every_s`` seconds of camera time, or sooner when its quality beats the best one sent by
``hub.embedding_quality_gain``), and a few small JPEG thumbnails per track are attached for the identity gallery.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import cv2
import numpy as np
import redis
from redis.typing import EncodableT, FieldT

from tracker.bus.schema import FrameMessage, Keys, LateBoxes, encode_frame, validate_camera_id
from tracker.bus.stream_writer import StreamWriter
from tracker.config import Config
from tracker.core.tracklet import LateBox, TrackletUpdate

__all__ = ["TrackletPublisher", "make_thumbnail"]

logger = logging.getLogger(__name__)

# Replay timestamps are frame index / fps: a cadence of exactly 5 / fps must not miss the 5th frame by a rounding
# error.
_CADENCE_EPS_S = 1e-6
MIN_THUMBNAIL_CROP_PX = 4      # crops thinner than this give no thumbnail
REGISTER_EVERY_MESSAGES = 1000  # re-add the camera to the registry now and then (a Redis restart empties it)
_WARN_EVERY_S = 10.0


def make_thumbnail(image_bgr: np.ndarray, xyxy: np.ndarray, height_px: int, jpeg_quality: int) -> bytes | None:
    """JPEG of the box's crop scaled to ``height_px`` tall (aspect kept), or None for an empty crop.

    image_bgr: (H, W, 3) uint8; xyxy: (4,) box in pixels (clipped to the image).
    """
    h, w = image_bgr.shape[:2]
    x1, y1, x2, y2 = (int(round(float(v))) for v in xyxy)
    x1, x2 = max(0, min(x1, w)), max(0, min(x2, w))
    y1, y2 = max(0, min(y1, h)), max(0, min(y2, h))
    if x2 - x1 < MIN_THUMBNAIL_CROP_PX or y2 - y1 < MIN_THUMBNAIL_CROP_PX:
        return None
    crop = image_bgr[y1:y2, x1:x2]
    scale = height_px / crop.shape[0]
    width = max(1, int(round(crop.shape[1] * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(crop, (width, height_px), interpolation=interp)
    ok, buf = cv2.imencode(".jpg", small, [int(cv2.IMWRITE_JPEG_QUALITY), int(jpeg_quality)])
    return buf.tobytes() if ok else None


@dataclass
class _TrackCadence:
    last_embedding_ts: float = -math.inf
    best_quality_sent: float = -1.0
    thumbnails_sent: int = 0
    last_thumbnail_ts: float = -math.inf
    last_seen_ts: float = 0.0


def _ground_rows(updates: list[TrackletUpdate]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows (K,), xy (K, 2) m, cov (K, 3) m^2 as var_x, cov_xy, var_y) of the updates with a ground position."""
    rows = [i for i, u in enumerate(updates) if u.ground_xy_m is not None and u.ground_cov_m2 is not None]
    xy = np.array([np.asarray(updates[i].ground_xy_m).reshape(2) for i in rows], np.float32).reshape(-1, 2)
    cov = np.array([np.asarray(updates[i].ground_cov_m2).reshape(2, 2)[[0, 0, 1], [0, 1, 1]] for i in rows],
                   np.float32).reshape(-1, 3)
    return np.array(rows, np.int32), xy, cov


def _late_boxes(late: Sequence[LateBox]) -> LateBoxes:
    """The message block of ``late`` (confidences clipped to [0, 1], like the updates')."""
    if not late:
        return LateBoxes()
    return LateBoxes(np.array([b.local_id for b in late], np.int64), np.array([b.frame_index for b in late], np.int64),
                     np.array([b.timestamp_s for b in late], np.float64),
                     np.array([np.asarray(b.xyxy, np.float32).reshape(4) for b in late], np.float32),
                     np.clip(np.array([b.confidence for b in late], np.float32), 0.0, 1.0))


class TrackletPublisher:
    """Publishes one camera's tracklet updates.

    Args:
        client: where frames go: a redis-py client, or a :class:`tracker.bus.write_behind.WriteBehindClient`
            (anything with the calls of :class:`tracker.bus.stream_writer.StreamWriter`).
        cfg: full configuration (``redis.key_prefix``, ``hub`` publishing keys).
        camera_id: this camera's name (letters, digits, '-', '_').
    """

    def __init__(self, client: StreamWriter, cfg: Config, camera_id: str) -> None:
        self.r = client
        self.cfg = cfg
        self.hcfg = cfg.hub
        self.camera_id = validate_camera_id(camera_id)
        self.keys = Keys(cfg.redis.key_prefix)
        self.stream = self.keys.updates(camera_id)
        self._tracks: dict[int, _TrackCadence] = {}
        self._registered = False
        self._last_sent_ts: float | None = None
        self._last_sent_updates = 0
        self._last_warn = -_WARN_EVERY_S
        self.last_message_id: bytes | str | None = None
        self.messages_sent = 0
        self.messages_dropped = 0
        self.embeddings_sent = 0
        self.thumbnails_sent = 0

    def publish(self, updates: list[TrackletUpdate], image_bgr: np.ndarray | None = None, *,
                frame_index: int | None = None, timestamp_s: float | None = None,
                late: Sequence[LateBox] = ()) -> None:
        """Publish one frame's updates (one XADD; the first call also registers the camera).

        Args:
            updates: the confirmed tracks updated in this frame (all of this camera and one frame).
            image_bgr: (H, W, 3) uint8 frame for thumbnails (None: no thumbnails).
            frame_index, timestamp_s: the frame, needed only when ``updates`` is empty: then an empty frame
                message is sent when the last tracks just left, and afterwards once per hub.heartbeat_interval_s
                (so the hub's camera clock and "who is visible now" move on).
            late: boxes of earlier frames known only now (tentative boxes of tracks confirmed in this frame,
                boxes filled in over gaps that closed in it), sent with this frame's updates for the trajectories.
        Redis being unreachable is logged (rate-limited) and the frame is dropped; tracking goes on.
        """
        if updates:
            frames = {(u.frame_index, u.timestamp_s) for u in updates}
            if len(frames) > 1:
                ordered = sorted(frames)
                for fi, ts in ordered:
                    self.publish([u for u in updates if u.frame_index == fi and u.timestamp_s == ts], image_bgr,
                                 late=late if (fi, ts) == ordered[-1] else ())
                return
            (frame_index, timestamp_s), = frames
            wrong = sorted({u.camera_id for u in updates} - {self.camera_id})
            if wrong:
                raise ValueError(f"publisher of camera {self.camera_id!r} got updates of camera(s) {wrong}")
        elif frame_index is None or timestamp_s is None:
            return
        elif (self._last_sent_ts is not None and not self._last_sent_updates
              and timestamp_s - self._last_sent_ts < self.hcfg.heartbeat_interval_s):
            return  # an empty frame right after the last tracks left, then one per heartbeat interval
        # bytes -> bytes is within redis-py's field/value types (its dict parameter is invariant, hence the cast)
        fields = cast("dict[FieldT, EncodableT]", self.encode(updates, image_bgr, int(frame_index), float(timestamp_s),
                                                              late))
        try:
            if self._registered and self.messages_sent % REGISTER_EVERY_MESSAGES:
                self.last_message_id = self.r.xadd(self.stream, fields, maxlen=self.hcfg.stream_maxlen,
                                                   approximate=True)
            else:
                pipe = self.r.pipeline(transaction=False)
                pipe.sadd(self.keys.cameras(), self.camera_id)
                pipe.xadd(self.stream, fields, maxlen=self.hcfg.stream_maxlen, approximate=True)
                message_id = pipe.execute()[1]
                self.last_message_id = message_id if isinstance(message_id, (bytes, str)) else None
                self._registered = True
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            self.messages_dropped += 1
            now = time.monotonic()
            if now - self._last_warn >= _WARN_EVERY_S:
                self._last_warn = now
                logger.warning("camera %s: cannot publish to Redis (%s); %d frame(s) dropped so far",
                               self.camera_id, exc, self.messages_dropped)
            return
        self.messages_sent += 1
        self._last_sent_ts = float(timestamp_s)
        self._last_sent_updates = len(updates)
        self._forget_old(float(timestamp_s))

    def encode(self, updates: list[TrackletUpdate], image_bgr: np.ndarray | None, frame_index: int,
               timestamp_s: float, late: Sequence[LateBox] = ()) -> dict[bytes, bytes]:
        """The stream fields :meth:`publish` would send for one frame (applies and advances the embedding and
        thumbnail cadence; sends nothing). For replaying pre-built messages, e.g. in benchmarks."""
        return encode_frame(self._build(updates, image_bgr, frame_index, timestamp_s, late))

    def _build(self, updates: list[TrackletUpdate], image_bgr: np.ndarray | None, frame_index: int,
               timestamp_s: float, late: Sequence[LateBox] = ()) -> FrameMessage:
        h = self.hcfg
        n = len(updates)
        ids = np.array([u.local_id for u in updates], np.int64)
        xyxy = np.array([np.asarray(u.xyxy, np.float32).reshape(4) for u in updates], np.float32).reshape(n, 4)
        conf = np.clip(np.array([u.confidence for u in updates], np.float32), 0.0, 1.0)
        quality = np.zeros(n, np.float32)
        emb_rows: list[int] = []
        embs: list[np.ndarray] = []
        thumbs: dict[int, bytes] = {}
        for i, u in enumerate(updates):
            st = self._tracks.get(u.local_id)
            if st is None:
                st = self._tracks[u.local_id] = _TrackCadence()
            st.last_seen_ts = timestamp_s
            if u.embedding is not None and np.linalg.norm(u.embedding) > 0:
                q = float(np.clip(u.embedding_quality, 0.0, 1.0))
                due = timestamp_s - st.last_embedding_ts >= h.embedding_every_s - _CADENCE_EPS_S
                better = q >= st.best_quality_sent + h.embedding_quality_gain
                if due or better:
                    emb_rows.append(i)
                    embs.append(np.asarray(u.embedding, np.float32).reshape(-1))
                    quality[i] = q
                    st.last_embedding_ts = timestamp_s
                    st.best_quality_sent = max(st.best_quality_sent, q)
            if (image_bgr is not None and st.thumbnails_sent < h.thumbnails_per_track
                    and timestamp_s - st.last_thumbnail_ts >= h.thumbnail_every_s - _CADENCE_EPS_S):
                jpeg = make_thumbnail(image_bgr, xyxy[i], h.thumbnail_height_px, h.thumbnail_jpeg_quality)
                if jpeg is not None:
                    thumbs[u.local_id] = jpeg
                    st.thumbnails_sent += 1
                    st.last_thumbnail_ts = timestamp_s
        self.embeddings_sent += len(emb_rows)
        self.thumbnails_sent += len(thumbs)
        emb = np.stack(embs) if embs else np.zeros((0, 0), np.float32)
        gnd_rows, gnd_xy, gnd_cov = _ground_rows(updates)
        return FrameMessage(self.camera_id, frame_index, timestamp_s, ids, xyxy, conf, quality,
                            np.array(emb_rows, np.int32), emb, thumbs, gnd_rows, gnd_xy, gnd_cov, _late_boxes(late))

    def _forget_old(self, now_ts: float) -> None:
        horizon = now_ts - self.hcfg.track_timeout_s
        for lid in [lid for lid, st in self._tracks.items() if st.last_seen_ts < horizon]:
            del self._tracks[lid]

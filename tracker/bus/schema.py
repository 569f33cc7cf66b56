"""The Redis key schema (version 1) and the wire format of camera update messages, in one place.

Every key is ``{prefix}:v1:...`` (``prefix`` = ``redis.key_prefix``); README.md documents each key. Messages on a
camera's update stream are one per camera frame (all confirmed tracks updated in that frame), with numeric arrays
packed little-endian so a frame of N tracks costs a handful of fields, not N messages.

Decoding validates everything: a message that is not ours raises :class:`ForeignMessageError`, one that is ours
but broken raises :class:`MalformedMessageError` (its parent), so the hub can dead-letter it and go on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

__all__ = [
    "SCHEMA_VERSION",
    "FRAME_SCHEMA_TAG",
    "CAMERA_ID_PATTERN",
    "MalformedMessageError",
    "ForeignMessageError",
    "Keys",
    "FrameMessage",
    "LateBoxes",
    "encode_frame",
    "decode_frame",
    "validate_camera_id",
    "track_member",
    "parse_track_member",
    "encode_box_point",
    "decode_box_point",
    "BoxPoint",
    "NowEntry",
    "encode_now_entry",
    "decode_now_entry",
    "format_xyxy",
    "parse_xyxy",
    "TRACK_PENDING",
    "TRACK_ASSIGNED",
]

SCHEMA_VERSION = 1
FRAME_SCHEMA_TAG = b"mctrack.frame.v1"
CAMERA_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")

TRACK_PENDING = "pending"
TRACK_ASSIGNED = "assigned"

# bounds a well-formed message respects (anything beyond is treated as malformed, not as a reason to crash)
MAX_UPDATES_PER_FRAME = 10_000
MAX_EMBEDDING_DIM = 8192
MAX_THUMBNAIL_BYTES = 256 * 1024
MAX_LATE_BOXES_PER_FRAME = 100_000
_JPEG_MAGIC = b"\xff\xd8"
_THUMB_FIELD_PREFIX = b"jpg:"
_ZERO_NORM = 1e-12

_F_SCHEMA, _F_CAM, _F_FRAME, _F_TS, _F_N = b"schema", b"cam", b"frame", b"ts", b"n"
_F_IDS, _F_XYXY, _F_CONF, _F_Q = b"ids", b"xyxy", b"conf", b"q"
_F_DIM, _F_EMB_IDX, _F_EMB = b"dim", b"emb_idx", b"emb"
_F_GND_IDX, _F_GND_XY, _F_GND_COV = b"gnd_idx", b"gnd_xy", b"gnd_cov"
_F_LATE = (b"late_ids", b"late_frame", b"late_ts", b"late_xyxy", b"late_conf")
_MIN_VARIANCE_M2 = -1e-9  # a covariance may come out a hair below zero through float rounding


class MalformedMessageError(ValueError):
    """A stream message that cannot be processed; the message says which field is wrong and why."""


class ForeignMessageError(MalformedMessageError):
    """A stream message that was not written by an mctrack publisher of this schema version."""


def validate_camera_id(camera_id: str) -> str:
    """Return ``camera_id`` if it is usable in key names, else raise ValueError naming the allowed characters."""
    if not isinstance(camera_id, str) or not CAMERA_ID_PATTERN.fullmatch(camera_id):
        raise ValueError(f"camera id {camera_id!r} is not usable: use 1-64 letters, digits, '-' or '_'")
    return camera_id


class Keys:
    """All Redis key names of schema v1 for one key prefix."""

    def __init__(self, prefix: str) -> None:
        if not prefix or any(c.isspace() for c in prefix):
            raise ValueError(f"redis.key_prefix {prefix!r} must be non-empty and without whitespace")
        self.prefix = prefix
        self.root = f"{prefix}:v{SCHEMA_VERSION}"

    # registry / global
    def schema(self) -> str:
        """string: the schema version number, written by the hub."""
        return f"{self.root}:schema"

    def cameras(self) -> str:
        """set of camera ids that ever published."""
        return f"{self.root}:cameras"

    def next_global_id(self) -> str:
        """string counter, INCR allocates a global id (ids start at 1)."""
        return f"{self.root}:gid:next"

    def events(self) -> str:
        """stream of identity events (new_identity, assigned, corrected, track_ended)."""
        return f"{self.root}:events"

    def dead_letter(self) -> str:
        """stream of messages the hub could not process (original fields plus error, source stream and id)."""
        return f"{self.root}:deadletter"

    def hub_lock(self) -> str:
        """string: consumer name of the active hub (leader lock with a TTL)."""
        return f"{self.root}:hub:lock"

    def hub_stats(self) -> str:
        """hash: counters of the hub (messages, updates, dead_letters, identities_created, corrections)."""
        return f"{self.root}:hub:stats"

    def identities_by_last_seen(self) -> str:
        """sorted set: global id -> last seen timestamp (camera time, seconds)."""
        return f"{self.root}:ids:last"

    def identities_by_first_seen(self) -> str:
        """sorted set: global id -> first seen timestamp."""
        return f"{self.root}:ids:first"

    # per camera
    def updates(self, camera_id: str) -> str:
        """stream of frame messages of one camera (see :func:`encode_frame`)."""
        return f"{self.root}:cam:{camera_id}:updates"

    def camera_states(self) -> str:
        """hash: camera id -> ``last_ts|last_frame|last_msg`` (latest frame applied by the hub and its stream
        id)."""
        return f"{self.root}:cams:state"

    def camera_tracks(self, camera_id: str) -> str:
        """sorted set: local track id -> time (first seen while the track is open, last seen once it ended);
        the index retention works on."""
        return f"{self.root}:cam:{camera_id}:tracks"

    def camera_now(self, camera_id: str) -> str:
        """hash: local track id -> current state of the camera's open tracks,
        ``gid|first_ts|last_ts|last_frame|x1,y1,x2,y2|conf`` (gid empty while pending)."""
        return f"{self.root}:cam:{camera_id}:now"

    def camera_boxes(self, camera_id: str) -> str:
        """sorted set: the camera's trajectories, score = timestamp, member = ``local_id,frame,x1,y1,x2,y2,conf``."""
        return f"{self.root}:cam:{camera_id}:boxes"

    def camera_local_to_global(self, camera_id: str) -> str:
        """hash: local track id -> global id."""
        return f"{self.root}:cam:{camera_id}:l2g"

    def snapshot(self, camera_id: str) -> str:
        """hash: the camera's latest annotated frame for the web console: ``jpeg`` (bytes), ``ts`` (camera time,
        s), ``wall_ts`` (Unix time it was published, s), ``frame`` (index), ``width``, ``height`` (of the JPEG,
        px); written by the camera's worker with a TTL (``snapshots.ttl_s``)."""
        return f"{self.root}:cam:{camera_id}:snapshot"

    # per track
    def track(self, camera_id: str, local_id: int) -> str:
        """hash: the track's state (see README)."""
        return f"{self.root}:trk:{camera_id}:{int(local_id)}"

    def track_thumbnails(self, camera_id: str, local_id: int) -> str:
        """list of JPEG thumbnails of the track (newest first)."""
        return f"{self.root}:trk:{camera_id}:{int(local_id)}:thumbs"

    # per identity
    def identity(self, global_id: int) -> str:
        """hash: first_ts, last_ts, last_camera, last_local_id, last_frame, last_box, n_tracks."""
        return f"{self.root}:id:{int(global_id)}"

    def identity_cameras(self, global_id: int) -> str:
        """hash: camera id -> last seen timestamp in that camera."""
        return f"{self.root}:id:{int(global_id)}:cameras"

    def identity_tracks(self, global_id: int) -> str:
        """set of the identity's tracks as ``camera/local_id``."""
        return f"{self.root}:id:{int(global_id)}:tracks"


def track_member(camera_id: str, local_id: int) -> str:
    """``camera/local_id``: how a track is named inside sets and events."""
    return f"{camera_id}/{int(local_id)}"


def parse_track_member(member: bytes | str) -> tuple[str, int]:
    text = member.decode() if isinstance(member, bytes) else member
    camera_id, _, local = text.rpartition("/")
    if not camera_id or not local.lstrip("-").isdigit():
        raise ValueError(f"not a track member (camera/local_id): {text!r}")
    return camera_id, int(local)


def format_xyxy(xyxy: np.ndarray | list[float]) -> str:
    """``x1,y1,x2,y2`` with one decimal."""
    values = xyxy.tolist() if isinstance(xyxy, np.ndarray) else list(xyxy)
    return ",".join(f"{v:.1f}" for v in values)


def parse_xyxy(text: bytes | str) -> np.ndarray:
    """(4,) float32 from ``x1,y1,x2,y2``."""
    raw = text.decode() if isinstance(text, bytes) else text
    parts = raw.split(",")
    if len(parts) != 4:
        raise ValueError(f"not a box x1,y1,x2,y2: {raw!r}")
    return np.array([float(p) for p in parts], dtype=np.float32)


class BoxPoint(NamedTuple):
    """One stored trajectory point of a camera's track."""

    local_id: int
    frame_index: int
    xyxy: np.ndarray  # (4,) float32 pixels
    confidence: float
    ground_xy_m: tuple[float, float] | None  # on the ground plane in metres (calibrated cameras), else None


def encode_box_point(local_id: int, frame_index: int, xyxy: np.ndarray, confidence: float,
                     ground_xy_m: np.ndarray | tuple[float, float] | None = None) -> str:
    """Trajectory member ``local_id,frame,x1,y1,x2,y2,conf`` plus ``,x_m,y_m`` (centimetres) when the track has a
    ground position (unique per track and frame: re-adding is idempotent)."""
    text = f"{int(local_id)},{int(frame_index)},{format_xyxy(xyxy)},{float(confidence):.3f}"
    if ground_xy_m is not None:
        text += f",{float(ground_xy_m[0]):.2f},{float(ground_xy_m[1]):.2f}"
    return text


def decode_box_point(member: bytes | str) -> BoxPoint:
    """A trajectory member back as a :class:`BoxPoint`."""
    raw = member.decode() if isinstance(member, bytes) else member
    parts = raw.split(",")
    if len(parts) not in (7, 9):
        raise ValueError(f"not a trajectory point local_id,frame,x1,y1,x2,y2,conf[,x_m,y_m]: {raw!r}")
    ground = (float(parts[7]), float(parts[8])) if len(parts) == 9 else None
    return BoxPoint(int(parts[0]), int(parts[1]), np.array([float(p) for p in parts[2:6]], dtype=np.float32),
                    float(parts[6]), ground)


@dataclass(frozen=True)
class NowEntry:
    """State of an open track in ``cam:<camera>:now``."""

    gid: int | None
    first_ts: float
    last_ts: float
    last_frame: int
    xyxy: np.ndarray
    confidence: float


def encode_now_entry(gid: int | None, first_ts: float, last_ts: float, last_frame: int, xyxy: np.ndarray,
                     confidence: float) -> str:
    return (f"{'' if gid is None else int(gid)}|{first_ts!r}|{last_ts!r}|{int(last_frame)}|{format_xyxy(xyxy)}|"
            f"{float(confidence):.3f}")


def decode_now_entry(value: bytes | str) -> NowEntry:
    raw = value.decode() if isinstance(value, bytes) else value
    parts = raw.split("|")
    if len(parts) != 6:
        raise ValueError(f"not a camera-now entry gid|first_ts|last_ts|frame|box|conf: {raw!r}")
    return NowEntry(int(parts[0]) if parts[0] else None, float(parts[1]), float(parts[2]), int(parts[3]),
                    parse_xyxy(parts[4]), float(parts[5]))


@dataclass(frozen=True)
class LateBoxes:
    """Boxes of earlier frames a camera reports late (K of them): confirmed tracks' boxes while tentative, boxes
    filled in over a track's gap. The hub stores them in the camera's trajectories only.

    Attributes:
        local_ids: (K,) int64 local track ids. frame_index: (K,) int64 their frames, each before the message's.
        timestamp_s: (K,) float64 those frames' times. xyxy: (K, 4) float32 boxes. confidence: (K,) float32 in [0, 1].
    """

    local_ids: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))
    frame_index: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))
    timestamp_s: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float64))
    xyxy: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    confidence: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))

    def __len__(self) -> int:
        return int(len(self.local_ids))


@dataclass(frozen=True)
class FrameMessage:
    """All confirmed-track updates of one camera frame, as carried on the camera's update stream.

    Attributes:
        camera_id: camera name.
        frame_index: the camera's frame index.
        timestamp_s: frame time in seconds.
        local_ids: (N,) int64 local track ids, unique.
        xyxy: (N, 4) float32 boxes.
        confidence: (N,) float32 detector scores in [0, 1].
        quality: (N,) float32 embedding quality in [0, 1] (0 where no embedding is attached).
        emb_index: (M,) int32 rows of the N updates that carry an embedding.
        embeddings: (M, D) float32 embeddings of those rows (M may be 0, then D may be 0).
        thumbnails: local id -> JPEG bytes for the tracks that carry a thumbnail this frame.
        ground_index: (K,) int32 rows of the N updates that have a ground position (calibrated cameras only).
        ground_xy_m: (K, 2) float32 ground positions in metres of those rows.
        ground_cov_m2: (K, 3) float32 their covariances in m^2 as (var_x, cov_xy, var_y).
        late: boxes of earlier frames reported late (tentative boxes of tracks confirmed now, filled gaps).
    """

    camera_id: str
    frame_index: int
    timestamp_s: float
    local_ids: np.ndarray
    xyxy: np.ndarray
    confidence: np.ndarray
    quality: np.ndarray
    emb_index: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int32))
    embeddings: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    thumbnails: Mapping[int, bytes] = field(default_factory=dict)
    ground_index: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int32))
    ground_xy_m: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32))
    ground_cov_m2: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.float32))
    late: LateBoxes = field(default_factory=LateBoxes)

    def __len__(self) -> int:
        return int(len(self.local_ids))

    def ground_per_update(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The ground fields spread over all N updates: ((N, 2) metres, (N, 3) packed covariances in m^2), NaN rows
        for updates without a position; (None, None) for an uncalibrated camera."""
        if not len(self.ground_index):
            return None, None
        positions = np.full((len(self), 2), np.nan)
        covariances = np.full((len(self), 3), np.nan)
        positions[self.ground_index] = self.ground_xy_m
        covariances[self.ground_index] = self.ground_cov_m2
        return positions, covariances


def encode_frame(msg: FrameMessage) -> dict[bytes, bytes]:
    """Stream fields of a frame message (pass to XADD). Validates the same way :func:`decode_frame` does."""
    validate_camera_id(msg.camera_id)
    n = len(msg.local_ids)
    fields: dict[bytes, bytes] = {
        _F_SCHEMA: FRAME_SCHEMA_TAG,
        _F_CAM: msg.camera_id.encode(),
        _F_FRAME: str(int(msg.frame_index)).encode(),
        _F_TS: repr(float(msg.timestamp_s)).encode(),
        _F_N: str(n).encode(),
        _F_IDS: np.ascontiguousarray(msg.local_ids, dtype="<i8").tobytes(),
        _F_XYXY: np.ascontiguousarray(msg.xyxy, dtype="<f4").reshape(n, 4).tobytes(),
        _F_CONF: np.ascontiguousarray(msg.confidence, dtype="<f4").tobytes(),
        _F_Q: np.ascontiguousarray(msg.quality, dtype="<f4").tobytes(),
    }
    m = len(msg.emb_index)
    if m:
        emb = np.ascontiguousarray(msg.embeddings, dtype="<f4").reshape(m, -1)
        fields[_F_DIM] = str(emb.shape[1]).encode()
        fields[_F_EMB_IDX] = np.ascontiguousarray(msg.emb_index, dtype="<i4").tobytes()
        fields[_F_EMB] = emb.tobytes()
    k = len(msg.ground_index)
    if k:  # only calibrated cameras send positions: other cameras' messages are as before
        fields[_F_GND_IDX] = np.ascontiguousarray(msg.ground_index, dtype="<i4").tobytes()
        fields[_F_GND_XY] = np.ascontiguousarray(msg.ground_xy_m, dtype="<f4").reshape(k, 2).tobytes()
        fields[_F_GND_COV] = np.ascontiguousarray(msg.ground_cov_m2, dtype="<f4").reshape(k, 3).tobytes()
    late = msg.late
    if len(late):  # only when there are late boxes: other messages are as before
        k_late = len(late)
        arrays = (late.local_ids, late.frame_index, late.timestamp_s, late.xyxy, late.confidence)
        for key, dtype, arr in zip(_F_LATE, ("<i8", "<i8", "<f8", "<f4", "<f4"), arrays):
            fields[key] = np.ascontiguousarray(arr, dtype=dtype).reshape(k_late, -1).tobytes()
    for local_id, jpeg in msg.thumbnails.items():
        fields[_THUMB_FIELD_PREFIX + str(int(local_id)).encode()] = bytes(jpeg)
    decode_frame(fields, expected_camera=msg.camera_id)  # refuse to publish what the hub would reject
    return fields


def _int_field(fields: Mapping[bytes, bytes], key: bytes, lo: int, hi: int) -> int:
    raw = fields.get(key)
    if raw is None:
        raise MalformedMessageError(f"field {key.decode()!r} is missing")
    try:
        value = int(raw)
    except ValueError:
        raise MalformedMessageError(f"field {key.decode()!r} = {raw[:32]!r} is not an integer") from None
    if not lo <= value <= hi:
        raise MalformedMessageError(f"field {key.decode()!r} = {value} is out of range [{lo}, {hi}]")
    return value


def _array_field(fields: Mapping[bytes, bytes], key: bytes, dtype: str, count: int) -> np.ndarray:
    raw = fields.get(key)
    if raw is None:
        raise MalformedMessageError(f"field {key.decode()!r} is missing")
    itemsize = np.dtype(dtype).itemsize
    if len(raw) != count * itemsize:
        raise MalformedMessageError(f"field {key.decode()!r} has {len(raw)} bytes, expected {count} x {itemsize}")
    arr = np.frombuffer(raw, dtype=dtype, count=count)
    if arr.dtype.kind == "f" and count and not np.isfinite(arr).all():
        raise MalformedMessageError(f"field {key.decode()!r} holds NaN or infinite values")
    return arr


def decode_frame(fields: Mapping[bytes, bytes], expected_camera: str | None = None) -> FrameMessage:
    """Parse and validate the fields of one stream message.

    Args:
        fields: the message's field -> value mapping as returned by XREADGROUP (bytes keys and values).
        expected_camera: the camera whose stream the message came from; a different ``cam`` is malformed.
    Raises:
        ForeignMessageError: no or another schema tag (not written by this version's publisher).
        MalformedMessageError: any other inconsistency; the message names the field.
    """
    tag = fields.get(_F_SCHEMA)
    if tag != FRAME_SCHEMA_TAG:
        raise ForeignMessageError(f"schema tag {tag!r} is not {FRAME_SCHEMA_TAG!r}: not an mctrack v1 frame message")
    cam_raw = fields.get(_F_CAM, b"")
    try:
        camera_id = validate_camera_id(cam_raw.decode())
    except (UnicodeDecodeError, ValueError):
        raise MalformedMessageError(f"field 'cam' = {cam_raw[:80]!r} is not a valid camera id") from None
    if expected_camera is not None and camera_id != expected_camera:
        raise MalformedMessageError(f"field 'cam' = {camera_id!r} but the message is on camera "
                                    f"{expected_camera!r}'s stream")
    frame_index = _int_field(fields, _F_FRAME, 0, 2**62)
    try:
        timestamp_s = float(fields.get(_F_TS, b"nan"))
    except ValueError:
        timestamp_s = math.nan
    if not math.isfinite(timestamp_s):
        raise MalformedMessageError(f"field 'ts' = {fields.get(_F_TS)!r} is not a finite number")
    n = _int_field(fields, _F_N, 0, MAX_UPDATES_PER_FRAME)
    local_ids = _array_field(fields, _F_IDS, "<i8", n).astype(np.int64)
    if len(np.unique(local_ids)) != n:
        raise MalformedMessageError("field 'ids' repeats a local track id within one frame")
    xyxy = _array_field(fields, _F_XYXY, "<f4", n * 4).reshape(n, 4).astype(np.float32)
    if n and ((xyxy[:, 2] < xyxy[:, 0]).any() or (xyxy[:, 3] < xyxy[:, 1]).any()):
        raise MalformedMessageError("field 'xyxy' has a box with x2 < x1 or y2 < y1")
    confidence = _array_field(fields, _F_CONF, "<f4", n).astype(np.float32)
    quality = _array_field(fields, _F_Q, "<f4", n).astype(np.float32)
    for name, arr in (("conf", confidence), ("q", quality)):
        if n and ((arr < 0).any() or (arr > 1).any()):
            raise MalformedMessageError(f"field {name!r} has values outside [0, 1]")
    emb_index = np.zeros((0,), np.int32)
    embeddings = np.zeros((0, 0), np.float32)
    if _F_EMB_IDX in fields or _F_EMB in fields:
        dim = _int_field(fields, _F_DIM, 1, MAX_EMBEDDING_DIM)
        raw_idx = fields.get(_F_EMB_IDX, b"")
        m = len(raw_idx) // 4
        emb_index = _array_field(fields, _F_EMB_IDX, "<i4", m).astype(np.int32)
        if m and ((emb_index < 0).any() or (emb_index >= n).any() or len(np.unique(emb_index)) != m):
            raise MalformedMessageError(f"field 'emb_idx' must name distinct rows in [0, {n})")
        embeddings = _array_field(fields, _F_EMB, "<f4", m * dim).reshape(m, dim).astype(np.float32)
        if m and (np.linalg.norm(embeddings, axis=1) <= _ZERO_NORM).any():
            raise MalformedMessageError("field 'emb' has an all-zero embedding (send no embedding instead)")
    ground_index, ground_xy, ground_cov = _ground_fields(fields, n)
    thumbnails: dict[int, bytes] = {}
    known = set(local_ids.tolist())
    for key, value in fields.items():
        if not key.startswith(_THUMB_FIELD_PREFIX):
            continue
        suffix = key[len(_THUMB_FIELD_PREFIX):]
        try:
            local_id = int(suffix)
        except ValueError:
            raise MalformedMessageError(f"thumbnail field {key[:40]!r} does not name a local id") from None
        if local_id not in known:
            raise MalformedMessageError(f"thumbnail for local id {local_id}, which has no update in this frame")
        if not value.startswith(_JPEG_MAGIC) or len(value) > MAX_THUMBNAIL_BYTES:
            raise MalformedMessageError(f"thumbnail of local id {local_id} is not a JPEG of at most "
                                        f"{MAX_THUMBNAIL_BYTES} bytes")
        thumbnails[local_id] = value
    return FrameMessage(camera_id, frame_index, timestamp_s, local_ids, xyxy, confidence, quality,
                        emb_index, embeddings, thumbnails, ground_index, ground_xy, ground_cov,
                        _late_fields(fields, frame_index))


def _ground_fields(fields: Mapping[bytes, bytes], n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ground_index (K,), ground_xy_m (K, 2), ground_cov_m2 (K, 3)) of a message; empty when it has none."""
    if not any(key in fields for key in (_F_GND_IDX, _F_GND_XY, _F_GND_COV)):
        return np.zeros((0,), np.int32), np.zeros((0, 2), np.float32), np.zeros((0, 3), np.float32)
    k = len(fields.get(_F_GND_IDX, b"")) // 4
    index = _array_field(fields, _F_GND_IDX, "<i4", k).astype(np.int32)
    if k and ((index < 0).any() or (index >= n).any() or len(np.unique(index)) != k):
        raise MalformedMessageError(f"field 'gnd_idx' must name distinct rows in [0, {n})")
    xy = _array_field(fields, _F_GND_XY, "<f4", k * 2).reshape(k, 2).astype(np.float32)
    cov = _array_field(fields, _F_GND_COV, "<f4", k * 3).reshape(k, 3).astype(np.float32)
    if k and ((cov[:, 0] < _MIN_VARIANCE_M2).any() or (cov[:, 2] < _MIN_VARIANCE_M2).any()
              or (cov[:, 0] * cov[:, 2] - cov[:, 1] ** 2 < _MIN_VARIANCE_M2).any()):
        raise MalformedMessageError("field 'gnd_cov' holds a covariance that is not positive semi-definite")
    return index, xy, cov


def _late_fields(fields: Mapping[bytes, bytes], frame_index: int) -> LateBoxes:
    """The late boxes of a message (empty when it has none): distinct (track, frame) pairs, each frame before the
    message's own."""
    if not any(key in fields for key in _F_LATE):
        return LateBoxes()
    k = len(fields.get(_F_LATE[0], b"")) // 8
    if k > MAX_LATE_BOXES_PER_FRAME:
        raise MalformedMessageError(f"field 'late_ids' holds {k} boxes, more than {MAX_LATE_BOXES_PER_FRAME}")
    ids = _array_field(fields, _F_LATE[0], "<i8", k).astype(np.int64)
    frames = _array_field(fields, _F_LATE[1], "<i8", k).astype(np.int64)
    ts = _array_field(fields, _F_LATE[2], "<f8", k).astype(np.float64)
    xyxy = _array_field(fields, _F_LATE[3], "<f4", k * 4).reshape(k, 4).astype(np.float32)
    conf = _array_field(fields, _F_LATE[4], "<f4", k).astype(np.float32)
    if k and ((frames < 0).any() or (frames >= frame_index).any()):
        raise MalformedMessageError(f"field 'late_frame' must hold frames in [0, {frame_index}) (before the "
                                    "message's frame)")
    if k and len({(int(i), int(f)) for i, f in zip(ids, frames)}) != k:
        raise MalformedMessageError("fields 'late_ids' and 'late_frame' repeat a (track, frame) pair")
    if k and ((xyxy[:, 2] < xyxy[:, 0]).any() or (xyxy[:, 3] < xyxy[:, 1]).any()):
        raise MalformedMessageError("field 'late_xyxy' has a box with x2 < x1 or y2 < y1")
    if k and ((conf < 0).any() or (conf > 1).any()):
        raise MalformedMessageError("field 'late_conf' has values outside [0, 1]")
    return LateBoxes(ids, frames, ts, xyxy, conf)

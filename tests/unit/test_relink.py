"""The identity engine re-links a camera's own fragments: a new track that starts where and when one ended."""

from __future__ import annotations

import itertools
import math

import numpy as np

from tracker.config import HubConfig
from tracker.config.mapping import identity_params
from tracker.identity import IdentityEngine, l2_normalize
from tracker.identity.scale import AppearanceScale

DIM = 64
FPS = 10.0


def _engine(**overrides: object) -> IdentityEngine:
    # a high match threshold: a fragment that looks a little different founds a new identity on appearance alone
    # (raw cosines: a unit appearance scale, u == cosine)
    cfg = HubConfig(**{"camera_normalization": "none", "match_threshold": 0.9, "correction_window_s": 0.0,
                       **overrides})
    counter = itertools.count(1)
    return IdentityEngine(identity_params(cfg, AppearanceScale(same_cosine=1.0, diff_cosine=0.0)),
                          lambda: next(counter))


def _like(base: np.ndarray, similarity: float, rng: np.random.Generator) -> np.ndarray:
    """A unit vector with cosine ``similarity`` to unit ``base``."""
    r = rng.normal(size=DIM)
    r = l2_normalize((r - (r @ base) * base)[None])[0]
    return similarity * base + math.sqrt(1 - similarity ** 2) * r


def _feed(eng: IdentityEngine, camera: str, frames: range, tracks: dict[int, tuple[np.ndarray, np.ndarray]],
          rng: np.random.Generator) -> None:
    """Observe ``tracks`` (local id -> (appearance (D,), box xyxy (4,))) in every frame, an embedding each."""
    for f in frames:
        ids = list(tracks)
        emb = l2_normalize(np.stack([tracks[i][0] for i in ids]) + rng.normal(scale=0.02, size=(len(ids), DIM)))
        boxes = np.stack([tracks[i][1] for i in ids])
        eng.observe(camera, f, f / FPS, ids, np.arange(len(ids)), emb, np.full(len(ids), 0.9, np.float32),
                    boxes_xyxy=boxes)
        eng.decide()


def _gid(eng: IdentityEngine, camera: str, local_id: int) -> int | None:
    return eng.tracks[(camera, local_id)].gid


BOX = np.array([100.0, 50.0, 140.0, 150.0])  # 100 px tall


def _fragment(eng: IdentityEngine, rng: np.random.Generator, start: int, shift_px: float,
              similarity: float = 0.8) -> None:
    """Person p as local track 1 (frames 1-20), then local track 2 from frame ``start``, ``shift_px`` to the right,
    looking a little different (cosine ``similarity`` to p)."""
    p = l2_normalize(rng.normal(size=(1, DIM)))[0]
    _feed(eng, "a", range(1, 21), {1: (p, BOX)}, rng)
    _feed(eng, "a", range(start, start + 10), {2: (_like(p, similarity, rng), BOX + [shift_px, 0, shift_px, 0])},
          rng)


def test_a_new_track_where_and_when_one_ended_continues_its_identity() -> None:
    rng = np.random.default_rng(1)
    eng = _engine()
    _fragment(eng, rng, start=23, shift_px=10.0)
    assert _gid(eng, "a", 2) == _gid(eng, "a", 1) is not None


def test_without_relinking_the_fragment_founds_a_new_identity() -> None:
    rng = np.random.default_rng(1)
    eng = _engine(relink_max_gap_s=0.0)
    _fragment(eng, rng, start=23, shift_px=10.0)
    assert _gid(eng, "a", 2) != _gid(eng, "a", 1)


def test_too_far_or_too_late_is_no_fragment() -> None:
    for start, shift in ((23, 80.0), (40, 10.0)):  # 0.8 box heights away; 2 s later
        rng = np.random.default_rng(1)
        eng = _engine()
        _fragment(eng, rng, start=start, shift_px=shift)
        assert _gid(eng, "a", 2) != _gid(eng, "a", 1), (start, shift)


def test_appearance_pointing_elsewhere_wins() -> None:
    """The new track looks like someone seen in another camera: no re-link to the track that ended there."""
    rng = np.random.default_rng(2)
    eng = _engine()
    p, q = l2_normalize(rng.normal(size=(2, DIM)))
    _feed(eng, "b", range(1, 21), {7: (q, BOX)}, rng)
    _feed(eng, "a", range(1, 21), {1: (p, BOX)}, rng)
    _feed(eng, "a", range(23, 33), {2: (q, BOX)}, rng)
    assert _gid(eng, "a", 2) == _gid(eng, "b", 7) != _gid(eng, "a", 1)


def test_two_tracks_ended_there_is_ambiguous() -> None:
    rng = np.random.default_rng(3)
    eng = _engine()
    p, q = l2_normalize(rng.normal(size=(2, DIM)))
    _feed(eng, "a", range(1, 21), {1: (p, BOX), 3: (q, BOX + [20.0, 0, 20.0, 0])}, rng)
    _feed(eng, "a", range(23, 33), {2: (_like(p, 0.8, rng), BOX + [10.0, 0, 10.0, 0])}, rng)
    assert _gid(eng, "a", 2) not in (_gid(eng, "a", 1), _gid(eng, "a", 3))

"""Ground-plane evidence in the identity engine: shared spans in overlapping views, walking-speed gates, the
refinement's splits and merges, and unchanged decisions without positions. Synthetic tracks, no models."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tracker.config import CameraLinkConfig, HubConfig
from tracker.config.mapping import identity_params
from tracker.identity import IdentityEngine, IdentityEvent, l2_normalize
from tracker.identity.ground import GroundHistory, shared_span, travel_infeasible
from tracker.identity.scale import AppearanceScale

DIM = 64
FPS = 10.0
POSITION_VAR_M2 = 0.01  # 10 cm standard deviation per axis, as a worker would report
Path = Callable[[float], tuple[float, float]]


def appearance(seed: int) -> np.ndarray:
    return l2_normalize(np.random.default_rng(seed).normal(size=(1, DIM)))[0]


def with_cosine(base: np.ndarray, cosine: float, seed: int) -> np.ndarray:
    """A unit vector whose cosine with unit ``base`` is ``cosine``."""
    other = np.random.default_rng(1000 + seed).normal(size=DIM)
    other -= other.dot(base) * base
    other /= np.linalg.norm(other)
    return (cosine * base + math.sqrt(1 - cosine ** 2) * other).astype(np.float32)


@dataclass
class Seen:
    """Local track ``local_id`` of ``camera`` from t0_s to t1_s, looking like ``emb``, walking ``path`` (t -> x, y
    metres; None: an uncalibrated camera that sends no positions, NaN: sends NaN rows)."""

    camera: str
    local_id: int
    t0_s: float
    t1_s: float
    emb: np.ndarray
    path: Path | None


# These tests speak raw cosines: a unit appearance scale (u == cosine) and the engine's former cosine defaults.
RAW_COSINE_SCALE = AppearanceScale(same_cosine=1.0, diff_cosine=0.0, source="tests: u == cosine")
RAW_COSINE_DEFAULTS = {"camera_normalization": "none", "match_threshold": 0.4, "correction_margin": 0.05,
                       "ground_weight": 0.3, "ground_merge_min_similarity": 0.0}


def engine(**overrides: object) -> IdentityEngine:
    cfg = HubConfig(**{**RAW_COSINE_DEFAULTS, **overrides})  # type: ignore[arg-type]
    counter = itertools.count(1)
    return IdentityEngine(identity_params(cfg, RAW_COSINE_SCALE), lambda: next(counter))


def run(eng: IdentityEngine, seen: list[Seen], end_s: float, positions: bool = True,
        seed: int = 0) -> list[IdentityEvent]:
    """Feed every camera frame by frame (10 fps, embeddings every frame, 5 cm position noise); returns events."""
    rng = np.random.default_rng(seed)
    cameras = sorted({s.camera for s in seen})
    events: list[IdentityEvent] = []
    for f in range(int(round(end_s * FPS)) + 1):
        t = f / FPS
        for cam in cameras:
            live = [s for s in seen if s.camera == cam and s.t0_s <= t + 1e-9 and t <= s.t1_s + 1e-9]
            n = len(live)
            emb = np.stack([s.emb for s in live]) if live else np.zeros((0, DIM), np.float32)
            kwargs: dict[str, object] = {}
            if positions and any(s.path is not None for s in live):
                xy = np.array([s.path(t) if s.path is not None else (math.nan, math.nan) for s in live], float)
                kwargs = {"positions_m": xy + rng.normal(scale=0.05, size=xy.shape),
                          "position_cov_m2": np.full(n, POSITION_VAR_M2)}
            eng.observe(cam, f + 1, t, [s.local_id for s in live], np.arange(n), emb, np.full(n, 0.9, np.float32),
                        **kwargs)  # type: ignore[arg-type]
        events += eng.decide()
        eng.end_stale_tracks()
    return events


def gid(eng: IdentityEngine, camera: str, local_id: int) -> int | None:
    return eng.tracks[(camera, local_id)].gid


def still(x: float, y: float) -> Path:
    return lambda t: (x, y)


def walk(x0: float, y0: float, vx: float, vy: float, t0: float = 0.0) -> Path:
    return lambda t: (x0 + vx * (t - t0), y0 + vy * (t - t0))


# ---------------------------------------------------------------------------------------------------- ground.py
def test_history_averages_within_an_interval_and_keeps_a_bounded_horizon() -> None:
    g = GroundHistory(interval_s=0.2, horizon_s=2.0)
    for f in range(100):  # 10 s at 10 fps
        g.add(f / 10, np.array([f / 10, 0.0]), np.eye(2) * 0.01)
    assert len(g) <= 12
    assert g.ts[-1] - g.ts[0] <= 2.0 + g.interval_s
    assert g.xy[-1, 0] == (9.8 + 9.9) / 2  # the two frames of the last interval, averaged
    t, xy, var = g.tail(1.0)
    assert abs(t - 9.45) < 0.2 and abs(xy[0] - 9.45) < 0.2 and var > 0.01  # spread of a moving end adds


def test_shared_span_is_a_median_over_the_whole_span_not_one_close_frame() -> None:
    a, b = GroundHistory(0.2, 60.0), GroundHistory(0.2, 60.0)
    for f in range(50):  # two people crossing: 10 m apart, 0 m at t = 2.5 s, 10 m apart again
        t = f / 10
        a.add(t, np.array([-5 + 2 * t, 0.0]), np.eye(2) * 0.01)
        b.add(t, np.array([5 - 2 * t, 0.0]), np.eye(2) * 0.01)
    span = shared_span(a, b, 0.25 ** 2, 0.6)
    assert span.duration_s >= 4.8 and span.median_m > 4.0 and span.sigmas > 3.0
    same = shared_span(a, a, 0.25 ** 2, 0.6)
    assert same.median_m == 0.0 and same.sigmas == 0.0


def test_travel_gate_forgives_the_uncertainty_margin() -> None:
    assert not travel_infeasible(np.array(2.0), np.array(3.9), np.array(0.0), 2.0, 3.0)
    assert travel_infeasible(np.array(2.0), np.array(4.5), np.array(0.0), 2.0, 3.0)
    assert not travel_infeasible(np.array(2.0), np.array(4.5), np.array(0.04), 2.0, 3.0)  # 0.6 m margin


# ---------------------------------------------------------------------------------------------------- decisions
def test_two_look_alikes_crossing_in_two_overlapping_cameras_keep_their_ids() -> None:
    """Identical appearance, paths crossing 0.3 m apart: only the ground over the shared span tells them apart;
    camera b sees them from just before the crossing, with its local ids in the other order."""
    look = appearance(1)
    p, q = walk(-5, 0.0, 1.0, 0.0), walk(5, 0.3, -1.0, 0.0)
    seen = [Seen("a", 1, 0.0, 10.0, look, p), Seen("a", 2, 0.0, 10.0, look, q),
            Seen("b", 1, 4.0, 10.0, look, q), Seen("b", 2, 4.0, 10.0, look, p)]
    eng = engine()
    run(eng, seen, 10.0)
    assert gid(eng, "a", 1) != gid(eng, "a", 2)
    assert gid(eng, "b", 2) == gid(eng, "a", 1)
    assert gid(eng, "b", 1) == gid(eng, "a", 2)


def test_a_look_alike_on_the_far_side_of_the_ground_plane_is_never_merged() -> None:
    look = appearance(2)
    seen = [Seen("a", 1, 0.0, 8.0, look, walk(0, 0, 0.5, 0)), Seen("b", 1, 0.5, 8.0, look, walk(15, 0, -0.2, 0))]
    eng = engine()
    events = run(eng, seen, 8.0)
    person = gid(eng, "a", 1)
    assert all(e.gid != person for e in events if (e.camera, e.local_id) == ("b", 1) and e.kind != "retired")
    # the same tracks without positions: appearance alone merges them
    blind = engine()
    run(blind, seen, 8.0, positions=False)
    assert gid(blind, "b", 1) == gid(blind, "a", 1)


def test_implausible_travel_between_disjoint_cameras_is_refused_and_plausible_travel_accepted() -> None:
    look = appearance(3)
    first = Seen("a", 1, 0.0, 3.0, look, walk(-3, 0, 1.0, 0))  # ends at (0, 0) at t = 3 s
    for start, expect_same in (((20.0, 0.0), False), ((1.5, 0.0), True)):
        eng = engine(default_camera_relation="disjoint")
        run(eng, [first, Seen("b", 1, 4.0, 7.0, look, walk(*start, 0.5, 0, t0=4.0))], 7.0)
        assert (gid(eng, "b", 1) == gid(eng, "a", 1)) is expect_same, start


def test_calibration_replaces_the_hand_set_transition_time() -> None:
    """A disjoint link says 30 s between the cameras; positions say 2 m in 2 s, which is walkable."""
    look = appearance(4)
    link = CameraLinkConfig(camera_a="a", camera_b="b", overlap=False, min_transition_s=30.0)
    seen = [Seen("a", 1, 0.0, 3.0, look, still(0, 0)), Seen("b", 1, 5.0, 8.0, look, still(2, 0))]
    eng = engine(camera_links=[link])
    run(eng, seen, 8.0)
    assert gid(eng, "b", 1) == gid(eng, "a", 1)
    blind = engine(camera_links=[link])
    run(blind, seen, 8.0, positions=False)
    assert gid(blind, "b", 1) != gid(blind, "a", 1)


def test_same_camera_reentry_is_gated_by_travel() -> None:
    look = appearance(5)
    for start, expect_same in (((15.0, 0.0), False), ((1.0, 0.0), True)):
        eng = engine()
        run(eng, [Seen("a", 1, 0.0, 3.0, look, still(0, 0)), Seen("a", 2, 4.0, 7.0, look, still(*start))], 7.0)
        assert (gid(eng, "a", 2) == gid(eng, "a", 1)) is expect_same, start


def test_uncalibrated_cameras_decide_exactly_as_without_positions() -> None:
    """Positions absent (None) or NaN everywhere: the same events as a run that never passes positions."""
    people = [appearance(10 + i) for i in range(3)]
    seen = [Seen("a", 1, 0.0, 6.0, people[0], None), Seen("a", 2, 1.0, 6.0, people[1], None),
            Seen("b", 1, 0.5, 6.0, people[0], None), Seen("b", 2, 2.0, 4.0, people[2], None),
            Seen("b", 3, 5.0, 8.0, people[1], None), Seen("a", 3, 7.5, 9.0, people[2], None)]
    nan_path = [Seen(s.camera, s.local_id, s.t0_s, s.t1_s, s.emb, still(math.nan, math.nan)) for s in seen]
    reference = run(engine(), seen, 9.0, positions=False)
    assert run(engine(), seen, 9.0) == reference
    assert run(engine(), nan_path, 9.0) == reference
    assert {e.kind for e in reference} >= {"new_identity", "assigned"}


# ---------------------------------------------------------------------------------------------------- refinement
def test_refinement_merges_two_identities_that_agree_on_the_ground() -> None:
    """One person whose two views look too different to match (cosine 0.02), walking the same path in both."""
    look = appearance(6)
    path = walk(0, 0, 0.7, 0.3)
    seen = [Seen("a", 1, 0.0, 12.0, look, path), Seen("b", 1, 0.0, 12.0, with_cosine(look, 0.02, 6), path)]
    eng = engine()
    events = run(eng, seen, 12.0)
    assert sum(e.kind == "new_identity" for e in events) == 2
    assert gid(eng, "a", 1) == gid(eng, "b", 1)
    merged = [e for e in events if e.cause == "merge"]
    assert merged and merged[0].kind == "corrected"
    assert any(e.kind == "retired" for e in events)
    # appearance that contradicts (cosine -0.3) keeps them apart
    contra = engine()
    run(contra, [seen[0], Seen("b", 1, 0.0, 12.0, with_cosine(look, -0.3, 6), path)], 12.0)
    assert gid(contra, "a", 1) != gid(contra, "b", 1)


def test_refinement_splits_an_identity_that_holds_two_people() -> None:
    """A look-alike stands next to the person for 6 s (so it joins the person's identity) and walks away after
    the correction window: the refinement splits it off once they have been apart for most of their shared time
    (a camera tracker's switch late in a track does not move the track)."""
    look = appearance(7)

    def leaves(t: float) -> tuple[float, float]:
        return (0.2, 0.0) if t < 6.0 else (0.2, 1.2 * (t - 6.0))

    seen = [Seen("a", 1, 0.0, 20.0, look, still(0, 0)), Seen("b", 1, 0.0, 20.0, look, leaves)]
    eng = engine()
    events = run(eng, seen, 20.0)
    assert any(e.kind == "assigned" and (e.camera, e.local_id) == ("b", 1) for e in events)
    split = [e for e in events if e.cause == "split"]
    assert split and (split[0].camera, split[0].local_id) == ("b", 1) and 12.0 < split[0].timestamp_s < 20.0
    assert gid(eng, "a", 1) != gid(eng, "b", 1)


def test_a_brief_same_camera_overlap_is_a_handover_only_where_another_camera_vouches() -> None:
    """Camera a's old track drifts off the person (onto the background, 6 m away) for its last second while a
    new track takes the person over; camera b sees the person throughout. Without b the two overlapping tracks
    of a must be two people."""
    look = appearance(8)
    path = walk(0, 0, 0.5, 0.2)

    def drifts(t: float) -> tuple[float, float]:
        return path(t) if t < 4.0 else (6.0, 0.0)

    a_old, a_new = Seen("a", 1, 0.0, 5.0, look, drifts), Seen("a", 2, 4.0, 10.0, look, path)
    eng = engine()
    run(eng, [a_old, a_new, Seen("b", 1, 0.0, 10.0, with_cosine(look, 0.5, 8), path)], 10.0)
    assert gid(eng, "a", 2) == gid(eng, "a", 1) == gid(eng, "b", 1)
    alone = engine()
    run(alone, [a_old, a_new], 10.0)
    assert gid(alone, "a", 2) != gid(alone, "a", 1)
    strict = engine(ground_handover_s=0.0)
    run(strict, [a_old, a_new, Seen("b", 1, 0.0, 10.0, with_cosine(look, 0.5, 8), path)], 10.0)
    assert gid(strict, "a", 2) != gid(strict, "a", 1)


def test_observe_takes_full_packed_and_isotropic_covariances() -> None:
    cov = np.array([[[0.04, 0.01], [0.01, 0.09]], [[0.02, 0.0], [0.0, 0.02]]])
    packed = np.array([[0.04, 0.01, 0.09], [0.02, 0.0, 0.02]])
    xy = np.array([[1.0, 2.0], [math.nan, math.nan]])
    histories = []
    for c in (cov, packed):
        eng = engine()
        t1, t2 = eng.observe("a", 1, 0.0, [1, 2], positions_m=xy, position_cov_m2=c)
        assert t2.ground is None  # NaN row: no position
        assert t1.ground is not None
        histories.append(t1.ground.cov[0].copy())
    np.testing.assert_allclose(histories[0], histories[1])
    (t,) = engine().observe("a", 1, 0.0, [1], positions_m=xy[:1], position_cov_m2=np.array([0.05]))
    assert t.ground is not None
    np.testing.assert_allclose(t.ground.cov[0], np.eye(2) * 0.05)

"""The pure identity core: deferral, constraints, Hungarian, re-entry, correction, normalisation, bounds."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from tracker.config import CameraLinkConfig, HubConfig
from tracker.config.mapping import identity_params
from tracker.identity import (
    SAME_CAMERA_MIN_GAP_S,
    CameraLink,
    CameraNormalizer,
    IdentityEngine,
    NormalizationParams,
    Topology,
    TopologyParams,
    l2_normalize,
)

DIM = 64
FPS = 10.0


def people(n: int, seed: int = 0) -> np.ndarray:
    """(n, DIM) well separated unit appearances."""
    rng = np.random.default_rng(seed)
    return l2_normalize(rng.normal(size=(n, DIM)))


def noisy(base: np.ndarray, rng: np.random.Generator, scale: float = 0.15) -> np.ndarray:
    return l2_normalize(base + rng.normal(scale=scale / math.sqrt(DIM), size=base.shape) * math.sqrt(DIM) / 4)


def engine(**overrides: object) -> IdentityEngine:
    cfg = HubConfig(**{"camera_normalization": "none", "match_threshold": 0.6, **overrides})
    counter = itertools.count(1)
    return IdentityEngine(identity_params(cfg), lambda: next(counter))


def feed(eng: IdentityEngine, camera: str, frames: range, tracks: dict[int, np.ndarray], rng: np.random.Generator,
         quality: float = 0.9, decide: bool = True) -> list:
    """Observe ``tracks`` (local id -> appearance) in every frame of ``frames``, with an embedding each frame."""
    events = []
    for f in frames:
        ids = list(tracks)
        emb = np.stack([noisy(tracks[i], rng) for i in ids]) if ids else np.zeros((0, DIM), np.float32)
        eng.observe(camera, f, f / FPS, ids, np.arange(len(ids)), emb, np.full(len(ids), quality, np.float32))
        if decide:
            events += eng.decide()
    return events


def gid(eng: IdentityEngine, camera: str, local_id: int) -> int | None:
    return eng.tracks[(camera, local_id)].gid


# ------------------------------------------------------------------------------------------------ topology
def test_topology_defaults_allow_overlap_but_not_two_tracks_in_one_camera():
    topo = Topology()
    assert topo.min_gap_s("a", "a") == SAME_CAMERA_MIN_GAP_S
    assert topo.min_gap_s("a", "b") == -math.inf


def test_topology_links_and_disjoint_default():
    topo = Topology(TopologyParams("disjoint", 4.0, (CameraLink("a", "b", True), CameraLink("a", "c", False, 10.0),
                                                     CameraLink("c", "d", False))))
    assert topo.min_gap_s("b", "a") == -math.inf
    assert topo.min_gap_s("c", "a") == 10.0
    assert topo.min_gap_s("b", "c") == 4.0
    assert topo.min_gap_s("d", "c") == 4.0  # a disjoint link without its own transition time: the default


@pytest.mark.parametrize("links, message", [
    ((CameraLink("a", "a"),), "camera link 0: camera_a and camera_b must be two different camera names"),
    ((CameraLink("a", "b"), CameraLink("b", "a", False, 1.0)), "camera link 1: the pair b/a is listed twice"),
])
def test_topology_errors_name_the_link(links, message):
    with pytest.raises(ValueError, match=message):
        Topology(TopologyParams(links=links))


def test_topology_from_config_uses_default_transition_for_disjoint_links():
    cfg = HubConfig(default_min_transition_s=7.0, camera_links=[CameraLinkConfig("a", "b", overlap=False)])
    assert Topology(identity_params(cfg).topology).min_gap_s("a", "b") == 7.0


# ------------------------------------------------------------------------------------------------ normaliser
def test_normalizer_removes_a_camera_bias():
    rng = np.random.default_rng(1)
    base = people(30, seed=2)
    bias = l2_normalize(rng.normal(size=(1, DIM)))[0] * 1.5
    norm = CameraNormalizer(NormalizationParams("mean", prior_tracks=2, window_tracks=100))
    for i in range(20):
        norm.vote("a", i, base[i])
        norm.vote("b", i, l2_normalize((base[i] + bias)[None])[0])
    a = norm.normalize("a", base[20:])
    b = norm.normalize("b", l2_normalize(base[20:] + bias))
    raw_cross = np.diag(l2_normalize(base[20:]) @ l2_normalize(base[20:] + bias).T).mean()
    assert np.diag(a @ b.T).mean() > raw_cross  # same people agree better across cameras after normalisation


def test_normalizer_shrinks_with_few_tracks_and_none_mode_is_identity():
    x = people(1)[0]
    norm = CameraNormalizer(NormalizationParams("mean", prior_tracks=5))
    norm.vote("a", 1, x)
    off = norm.offset("a")
    assert off is not None and np.linalg.norm(off) < 0.5  # one track: mostly not subtracted
    assert norm.normalize("a", x[None])[0] @ x > 0.5  # the lone person is not erased
    none = CameraNormalizer(NormalizationParams("none"))
    none.vote("a", 1, x)
    assert none.offset("a") is None
    np.testing.assert_allclose(none.normalize("a", x[None])[0], x, atol=1e-6)


def test_normalizer_vote_is_replaced_and_window_bounded():
    norm = CameraNormalizer(NormalizationParams("mean", prior_tracks=1, window_tracks=3))
    p = people(5)
    for i in range(5):
        norm.vote("a", i, p[i])
    norm.vote("a", 4, p[0])  # a track's vote replaces its earlier one
    assert len(norm._votes["a"]) == 3


# ------------------------------------------------------------------------------------------------ deferral
def test_decision_waits_for_enough_good_embeddings():
    eng = engine(min_embeddings=3, max_defer_s=100.0)
    rng = np.random.default_rng(0)
    p = people(1)
    feed(eng, "a", range(1, 3), {1: p[0]}, rng)
    assert gid(eng, "a", 1) is None
    feed(eng, "a", range(3, 4), {1: p[0]}, rng)
    assert gid(eng, "a", 1) == 1


def test_low_quality_embeddings_do_not_count_but_max_defer_decides():
    eng = engine(min_embeddings=3, max_defer_s=1.0, min_embedding_quality=0.5)
    rng = np.random.default_rng(0)
    p = people(1)
    feed(eng, "a", range(1, 10), {1: p[0]}, rng, quality=0.1)
    assert gid(eng, "a", 1) is None and eng.tracks[("a", 1)].n_good == 0
    feed(eng, "a", range(10, 13), {1: p[0]}, rng, quality=0.1)
    assert gid(eng, "a", 1) is not None


def test_track_without_embeddings_gets_an_id_after_max_defer():
    eng = engine(max_defer_s=0.5)
    for f in range(1, 8):
        eng.observe("a", f, f / FPS, [5])
        eng.decide()
    assert gid(eng, "a", 5) == 1


# ------------------------------------------------------------------------------------------------ constraints
def test_two_simultaneous_tracks_in_one_camera_never_share_an_identity():
    eng = engine()
    rng = np.random.default_rng(0)
    p = people(1)
    feed(eng, "a", range(1, 10), {1: p[0], 2: p[0]}, rng)  # identical appearance, seen together
    assert gid(eng, "a", 1) != gid(eng, "a", 2)


def test_overlapping_cameras_share_an_identity_at_the_same_time():
    eng = engine()
    rng = np.random.default_rng(0)
    p = people(2)
    for f in range(1, 10):
        for cam, tracks in (("a", {1: p[0], 2: p[1]}), ("b", {7: p[1], 8: p[0]})):
            feed(eng, cam, range(f, f + 1), tracks, rng, decide=False)
        eng.decide()
    assert gid(eng, "a", 1) == gid(eng, "b", 8) and gid(eng, "a", 2) == gid(eng, "b", 7)
    assert len(eng.identities) == 2


def test_disjoint_cameras_forbid_simultaneous_presence_and_respect_transition_time():
    links = [CameraLinkConfig("a", "b", overlap=False, min_transition_s=2.0)]
    eng = engine(camera_links=links)
    rng = np.random.default_rng(0)
    p = people(1)
    for f in range(1, 10):  # same look in a and b at the same time: cannot be one person
        feed(eng, "a", range(f, f + 1), {1: p[0]}, rng, decide=False)
        feed(eng, "b", range(f, f + 1), {1: p[0]}, rng, decide=False)
        eng.decide()
    assert gid(eng, "a", 1) != gid(eng, "b", 1)
    # leaves a at t=0.9; appears in c (no link: may overlap) and, 3 s later, in b: both fine
    feed(eng, "b", range(40, 50), {2: p[0]}, rng)
    assert gid(eng, "b", 2) in (gid(eng, "a", 1), gid(eng, "b", 1))
    # too early in b after being in a: 1 s < 2 s transition
    eng2 = engine(camera_links=links)
    feed(eng2, "a", range(1, 10), {1: p[0]}, rng)
    feed(eng2, "b", range(19, 28), {1: p[0]}, rng)
    assert gid(eng2, "b", 1) != gid(eng2, "a", 1)
    feed(eng2, "b", range(60, 70), {2: p[0]}, rng)  # 5 s later: allowed
    assert gid(eng2, "b", 2) in (gid(eng2, "a", 1), gid(eng2, "b", 1))


def test_hungarian_assigns_tracks_seen_together_jointly():
    eng = engine(match_threshold=0.3)
    rng = np.random.default_rng(0)
    p = people(2, seed=5)
    feed(eng, "a", range(1, 8), {1: p[0], 2: p[1]}, rng)
    # in camera b two tracks appear together; track 11 resembles both, 12 only person 0: greedy on 11 first would
    # take person 0 and leave 12 without its identity
    mix = l2_normalize((0.55 * p[0] + 0.45 * p[1])[None])[0]
    feed(eng, "b", range(30, 38), {11: mix, 12: p[0]}, rng)
    assert gid(eng, "b", 12) == gid(eng, "a", 1)
    assert gid(eng, "b", 11) == gid(eng, "a", 2)


# ------------------------------------------------------------------------------------------------ re-entry
def test_reentry_after_leaving_keeps_the_id():
    eng = engine(track_timeout_s=1.0)
    rng = np.random.default_rng(0)
    p = people(3)
    feed(eng, "a", range(1, 20), {1: p[0], 2: p[1]}, rng)
    feed(eng, "a", range(20, 40), {2: p[1]}, rng)  # person 0 leaves
    eng.end_stale_tracks(force=True)
    assert eng.tracks[("a", 1)].ended
    feed(eng, "a", range(40, 60), {2: p[1], 3: p[0], 4: p[2]}, rng)  # comes back as local track 3
    assert gid(eng, "a", 3) == gid(eng, "a", 1)
    assert gid(eng, "a", 4) not in (gid(eng, "a", 1), gid(eng, "a", 2))


# ------------------------------------------------------------------------------------------------ correction
def test_young_assignment_is_corrected_when_evidence_grows():
    eng = engine(match_threshold=0.5, min_embeddings=1, correction_window_s=5.0, correction_margin=0.05)
    rng = np.random.default_rng(0)
    p = people(2, seed=3)
    feed(eng, "a", range(1, 10), {1: p[0]}, rng)
    feed(eng, "b", range(1, 10), {1: p[1]}, rng)
    # a new track whose first embedding looks like person 0, then keeps looking like person 1
    mislead = l2_normalize((0.8 * p[0] + 0.2 * p[1])[None])[0]
    feed(eng, "c", range(20, 21), {5: mislead}, rng)
    first = gid(eng, "c", 5)
    assert first == gid(eng, "a", 1)
    events = feed(eng, "c", range(21, 35), {5: p[1]}, rng)
    assert gid(eng, "c", 5) == gid(eng, "b", 1)
    assert any(e.kind == "corrected" and e.previous_gid == first for e in events)


def test_singleton_identity_is_retired_when_its_track_merges():
    eng = engine(match_threshold=0.5, min_embeddings=1, correction_window_s=5.0)
    rng = np.random.default_rng(0)
    p = people(2, seed=4)
    feed(eng, "a", range(1, 10), {1: p[0]}, rng)
    feed(eng, "b", range(20, 21), {1: p[1]}, rng)  # first look: a stranger -> new identity
    lonely = gid(eng, "b", 1)
    assert lonely != gid(eng, "a", 1)
    events = feed(eng, "b", range(21, 40), {1: p[0]}, rng)
    assert gid(eng, "b", 1) == gid(eng, "a", 1)
    assert any(e.kind == "retired" and e.gid == lonely for e in events)
    assert lonely not in eng.identities


# ------------------------------------------------------------------------------------------------ bounds
def test_gallery_is_bounded_per_identity_camera_and_by_retention():
    eng = engine(track_timeout_s=0.2, prototypes_per_camera=2, gallery_retention_s=5.0)
    rng = np.random.default_rng(0)
    p = people(2)
    t = 0
    for lid in range(1, 7):  # the same person re-enters 6 times
        feed(eng, "a", range(t, t + 6), {lid: p[0]}, rng)
        t += 10
        eng.end_stale_tracks(force=True)
    ident = eng.identities[gid(eng, "a", 6)]
    assert sum(1 for u in ident.tracks.values() if u.ended) <= 2
    feed(eng, "a", range(200, 206), {99: p[1]}, rng)  # 14 s later
    eng.end_stale_tracks(force=True)
    evicted = eng.evict()
    assert ident.gid in evicted and ident.gid not in eng.identities


def test_max_identities_evicts_least_recently_seen():
    eng = engine(max_identities=2, track_timeout_s=0.2)
    rng = np.random.default_rng(0)
    p = people(4)
    for i in range(4):
        feed(eng, "a", range(i * 10, i * 10 + 5), {i + 1: p[i]}, rng)
        eng.end_stale_tracks(force=True)
    eng.end_stale_tracks(force=True)
    evicted = eng.evict()
    assert len(eng.identities) <= 2 and 1 in evicted


def test_embedding_length_mismatch_is_refused_before_applying():
    eng = engine()
    eng.observe("a", 1, 0.0, [1], np.array([0]), np.ones((1, DIM), np.float32), np.ones(1, np.float32))
    with pytest.raises(ValueError, match="same Re-ID model"):
        eng.observe("a", 2, 0.1, [1], np.array([0]), np.ones((1, DIM + 1), np.float32), np.ones(1, np.float32))
    assert eng.tracks[("a", 1)].n_total == 1

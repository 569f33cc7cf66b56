"""Identity-switch detection along a local track (tracker.core.switch) and the split in MultiObjectTracker."""

from __future__ import annotations

import numpy as np
import pytest

from tracker.core.detections import Detections
from tracker.core.multi_tracker import MultiObjectTracker
from tracker.core.params import TrackerParams
from tracker.core.switch import AppearanceWatch, is_switch, reference_stats

DIM = 64
NOISE = 0.2  # norm of the noise of a person's embeddings around their prototype (within-track spread)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _person(rng: np.random.Generator, like: np.ndarray | None = None, similarity: float = 0.0) -> np.ndarray:
    """A unit prototype (D,); with ``like``, one whose cosine similarity to it is ``similarity``."""
    p = _unit(rng.normal(size=DIM))
    if like is None:
        return p
    p = _unit(p - (p @ like) * like)  # orthogonal to like
    return _unit(similarity * like + np.sqrt(1 - similarity ** 2) * p)


def _samples(rng: np.random.Generator, proto: np.ndarray, n: int) -> np.ndarray:
    return _unit(proto[None] + rng.normal(scale=NOISE / np.sqrt(DIM), size=(n, DIM))).astype(np.float32)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


def test_reference_stats_measure_the_within_track_spread(rng: np.random.Generator) -> None:
    a = _person(rng)
    tight = reference_stats(_samples(rng, a, 20))
    loose = reference_stats(_unit(a[None] + rng.normal(scale=0.2, size=(20, DIM))))
    assert tight.mean @ a > 0.95
    assert tight.mu > loose.mu and tight.var < loose.var
    assert tight.n == 20


def test_a_switch_to_a_known_person_is_found(rng: np.random.Generator) -> None:
    a, b = _person(rng), None
    b = _person(rng, like=a, similarity=0.7)  # look-alikes: a cosine gate alone would let them swap
    ref = reference_stats(_samples(rng, a, 10))
    others = [reference_stats(_samples(rng, b, 10))]
    assert is_switch(ref, _samples(rng, b, 3), others, sigmas=3.0)
    # the same person after the crossing is no switch
    assert not is_switch(ref, _samples(rng, a, 3), others, sigmas=3.0)


def test_a_single_bad_embedding_is_no_switch(rng: np.random.Generator) -> None:
    a = _person(rng)
    b = _person(rng, like=a, similarity=0.5)
    ref = reference_stats(_samples(rng, a, 10))
    recent = np.concatenate([_samples(rng, a, 1), _samples(rng, b, 1), _samples(rng, a, 1)])
    assert not is_switch(ref, recent, [reference_stats(_samples(rng, b, 10))], sigmas=3.0)


def test_far_but_like_nobody_else_is_no_switch(rng: np.random.Generator) -> None:
    """A track whose appearance changes (turning round, a shadow) but resembles no other track stays one track."""
    a = _person(rng)
    changed = _person(rng, like=a, similarity=0.6)
    unrelated = _person(rng)
    ref = reference_stats(_samples(rng, a, 10))
    assert not is_switch(ref, _samples(rng, changed, 3), [reference_stats(_samples(rng, unrelated, 10))],
                         sigmas=3.0)


def test_a_gradual_drift_is_no_switch(rng: np.random.Generator) -> None:
    """The appearance drifts from a to a look-alike c over 60 embeddings, crossing someone every 10: the rolling
    reference follows it, so no window of the drift is far from what came just before."""
    a = _person(rng)
    c = _person(rng, like=a, similarity=0.3)
    watch = AppearanceWatch(reference_size=15)
    others = [reference_stats(_samples(rng, c, 10))]
    for i in range(60):
        frac = i / 59
        proto = _unit((1 - frac) * a + frac * c)
        if i % 10 == 5:
            watch.crossing(i, watch_frames=3)
        watch.add(_samples(rng, proto, 1)[0])
        ref = watch.stats()
        if watch.watching and len(watch.recent) >= 3 and ref is not None:
            assert not is_switch(ref, np.array(list(watch.recent)[-3:]), others, sigmas=3.0), f"embedding {i}"
        watch.end_watch_if_due(i + 1)


def test_the_watch_freezes_the_reference_during_a_crossing(rng: np.random.Generator) -> None:
    a = _person(rng)
    watch = AppearanceWatch(reference_size=10)
    for e in _samples(rng, a, 4):
        watch.add(e)
    watch.crossing(10, watch_frames=5)
    for e in _samples(rng, a, 2):
        watch.add(e)
    assert len(watch.reference) == 4 and len(watch.recent) == 2
    watch.end_watch_if_due(15)
    assert watch.watching
    watch.end_watch_if_due(16)
    assert not watch.watching and len(watch.reference) == 6 and not watch.recent


# -- the split in the tracker ----------------------------------------------------------------------------------
def _box(x: float, y: float) -> list[float]:
    return [x, y, x + 40.0, y + 100.0]


def _run(rng: np.random.Generator, swap: bool, params: TrackerParams) -> tuple[list[set[int]], list[tuple[int, int]]]:
    """Two people side by side: apart (frames 1-20), overlapping (21-25), apart again (26-45). With ``swap`` the
    embeddings after the overlap come from the other person (each track followed the wrong one out of it).
    Returns the confirmed ids per frame and every split."""
    a = _person(rng)
    b = _person(rng, like=a, similarity=0.8)  # close enough that the swapped pairs pass the appearance gate
    tracker = MultiObjectTracker(params, fps=10.0)
    ids: list[set[int]] = []
    splits: list[tuple[int, int]] = []
    for f in range(1, 46):
        gap = 25.0 if 21 <= f <= 25 else 60.0  # boxes 40 wide: IoU ~0.2 while overlapping
        boxes = np.array([_box(100.0, 50.0 + f), _box(100.0 + gap, 50.0 + f)])
        fa, fb = _samples(rng, a, 1)[0], _samples(rng, b, 1)[0]
        feats = np.stack([fb, fa] if swap and f > 25 else [fa, fb])
        step = tracker.update(Detections(boxes, np.array([0.9, 0.9]), feats), f)
        ids.append({o.track_id for o in step.outputs})
        splits += step.splits
    return ids, splits


def _params(split_switches: bool = True) -> TrackerParams:
    return TrackerParams(n_init_frames=2, switch_watch_s=1.0, split_switches=split_switches)


def test_a_swap_in_a_crossing_splits_both_tracks(rng: np.random.Generator) -> None:
    ids, splits = _run(rng, swap=True, params=_params())
    assert ids[19] == {1, 2}
    assert sorted(old for old, _ in splits) == [1, 2]
    assert ids[-1] == {new for _, new in splits} and not ids[-1] & {1, 2}


def test_no_swap_no_split(rng: np.random.Generator) -> None:
    ids, splits = _run(rng, swap=False, params=_params())
    assert not splits
    assert ids[-1] == {1, 2}


def test_splitting_can_be_turned_off(rng: np.random.Generator) -> None:
    ids, splits = _run(rng, swap=True, params=_params(split_switches=False))
    assert not splits and ids[-1] == {1, 2}

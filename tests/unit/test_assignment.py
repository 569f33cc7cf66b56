import numpy as np

from tracker.core.assignment import linear_assignment, matching_cascade
from tracker.core.costs import INFEASIBLE, cosine_distance, fuse_costs


def test_hungarian_finds_global_optimum():
    # Greedy would take (0,0)=1 then (1,1)=10 -> 11; optimum is (0,1)+(1,0) = 2 + 2 = 4.
    cost = np.array([[1.0, 2.0], [2.0, 10.0]])
    matches, ur, uc = linear_assignment(cost, max_cost=100)
    assert sorted(matches) == [(0, 1), (1, 0)]
    assert ur == [] and uc == []


def test_threshold_leaves_expensive_pairs_unmatched():
    cost = np.array([[0.1, 0.9], [0.8, 0.95]])
    matches, ur, uc = linear_assignment(cost, max_cost=0.5)
    assert matches == [(0, 0)] and ur == [1] and uc == [1]


def test_infeasible_never_matched_and_subsets_respected():
    cost = np.array([[INFEASIBLE, 0.2, 0.3], [0.1, INFEASIBLE, 0.4]])
    matches, ur, uc = linear_assignment(cost, max_cost=INFEASIBLE - 1, rows=[0], cols=[0, 2])
    assert matches == [(0, 2)] and ur == [] and uc == [0]


def test_empty_inputs():
    assert linear_assignment(np.zeros((0, 3)), 1.0) == ([], [], [0, 1, 2])
    assert linear_assignment(np.zeros((2, 0)), 1.0) == ([], [0, 1], [])


def test_matching_cascade_prefers_recently_seen_tracks():
    # Both tracks want detection 0 equally; track 1 was seen 1 frame ago, track 0 five frames ago.
    cost = np.array([[0.1, INFEASIBLE], [0.1, INFEASIBLE]])
    matches, ur, uc = matching_cascade(cost, 1.0, track_ages=[5, 1], max_level=10)
    assert matches == [(1, 0)] and ur == [0] and uc == [1]


def test_cosine_distance_and_missing_features():
    a = np.array([[1.0, 0.0], [0.0, 0.0]], np.float32)
    b = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    d = cosine_distance(a, b)
    np.testing.assert_allclose(d[0], [0.0, 1.0], atol=1e-6)
    assert np.isnan(d[1]).all()


def test_fuse_costs_gates():
    iou_d = np.array([[0.2, 0.9], [0.95, 0.1]])
    app_d = np.array([[0.1, 0.05], [np.nan, 0.6]])
    gate = np.array([[True, False], [True, True]])
    cost = fuse_costs(iou_d, app_d, gate, appearance_weight=0.5, max_cosine_distance=0.3, max_iou_distance=0.7)
    assert cost[0, 0] == np.float64(0.5 * 0.1 + 0.5 * 0.2)
    assert cost[0, 1] == INFEASIBLE  # outside the Mahalanobis gate despite a good appearance
    assert cost[1, 0] == INFEASIBLE  # no appearance, IoU too small
    assert cost[1, 1] == INFEASIBLE  # looks too different, however well it overlaps

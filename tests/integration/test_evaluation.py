"""Evaluation against the real PETS S2L1 ground truth: sanity points, TrackEval's own loader, the README's MTMC
reference point, and the ``mctrack eval`` command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from paths import DEV

from tracker.cli import main as cli_main
from tracker.offline.evaluation import (
    CROSS_CAMERA_NAME,
    EvaluationError,
    MissingPredictionError,
    build_sequence_data,
    evaluate_cameras,
    evaluate_data,
    evaluate_dirs,
    evaluate_sequence,
    iou_matrix_tlwh,
)
from tracker.offline.motio import read_mot, write_mot

PETS_DIR = DEV
NUM_FRAMES = 400  # README: every camera has 400 frames
LOCAL_ID_OFFSET = 1000  # cam2's ids shifted to make them camera-local (README reference point)
# README "Reference point for the cross-camera metric" (camera-local ids on two-cam)
README_MTMC_IDF1 = 0.690
README_MTMC_HOTA = 0.796

SCORE_FIELDS = ("hota", "deta", "assa", "mota", "idf1", "idp", "idr")


@pytest.fixture(scope="module")
def pets_dir() -> Path:
    assert PETS_DIR.is_dir(), f"shared evaluation data missing: expected {PETS_DIR} (clone shared/ beside the repo)"
    return PETS_DIR


@pytest.fixture(scope="module")
def full_gt(pets_dir: Path) -> np.ndarray:
    return read_mot(pets_dir / "full" / "cam1" / "gt.txt")


@pytest.fixture(scope="module")
def two_cam_gt(pets_dir: Path) -> dict[str, np.ndarray]:
    return {cam: read_mot(pets_dir / "two-cam" / cam / "gt.txt") for cam in ("cam1", "cam2")}


def _local_ids(gt: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Camera-local ids: perfect per-camera tracks, no cross-camera linking."""
    pred = {cam: rows.copy() for cam, rows in gt.items()}
    pred["cam2"][:, 1] += LOCAL_ID_OFFSET
    return pred


def _assert_perfect(scores) -> None:
    for name in SCORE_FIELDS:
        assert getattr(scores, name) == pytest.approx(1.0), f"{scores.name}.{name}"
    assert scores.idsw == 0 and scores.fp == 0 and scores.fn == 0


def test_gt_against_itself_scores_one(full_gt: np.ndarray, two_cam_gt: dict[str, np.ndarray]) -> None:
    single = evaluate_cameras({"cam1": full_gt}, {"cam1": full_gt}, {"cam1": NUM_FRAMES})
    assert single.cross_camera is None and single.mtmc_hota is None  # one camera: no cross-camera row
    _assert_perfect(single.cameras["cam1"])
    # gt.txt gives one id per person: 8 people (the annotation's 10 ids count the two returning men twice)
    assert single.cameras["cam1"].num_gt_ids == single.cameras["cam1"].num_pred_ids == 8

    multi = evaluate_cameras(two_cam_gt, two_cam_gt, {"cam1": NUM_FRAMES, "cam2": NUM_FRAMES})
    assert multi.camera_order == ["cam1", "cam2"]
    for row in multi.rows():
        _assert_perfect(row)
    assert multi.cross_camera.name == CROSS_CAMERA_NAME
    assert multi.cross_camera.num_gt_dets == len(two_cam_gt["cam1"]) + len(two_cam_gt["cam2"])
    assert multi.cross_camera.num_frames == 2 * NUM_FRAMES


def test_consistent_id_permutation_scores_one(two_cam_gt: dict[str, np.ndarray]) -> None:
    ids = np.unique(np.concatenate([rows[:, 1] for rows in two_cam_gt.values()]))
    relabel = dict(zip(ids, np.random.default_rng(7).permutation(len(ids)) + 500))
    pred = {cam: rows.copy() for cam, rows in two_cam_gt.items()}
    for rows in pred.values():
        rows[:, 1] = [relabel[i] for i in rows[:, 1]]
    result = evaluate_cameras(two_cam_gt, pred)
    for row in result.rows():
        _assert_perfect(row)


def test_dropping_half_the_boxes_lowers_mota_and_deta(full_gt: np.ndarray) -> None:
    keep = np.random.default_rng(3).random(len(full_gt)) < 0.5
    scores = evaluate_sequence(full_gt, full_gt[keep], NUM_FRAMES, "cam1")
    kept_fraction = keep.sum() / len(full_gt)
    assert scores.fn == (~keep).sum() and scores.fp == 0 and scores.idsw == 0
    # every kept box is an exact match at every IoU threshold, so both equal the kept fraction
    assert scores.mota == pytest.approx(kept_fraction)
    assert scores.deta == pytest.approx(kept_fraction)
    assert scores.idp == pytest.approx(1.0) and scores.idr == pytest.approx(kept_fraction)
    assert scores.hota < 1.0 and scores.assa < 1.0


def _crossing_pair(gt: np.ndarray) -> tuple[int, int, int]:
    """Two ids present together with non-overlapping boxes (IoU < 0.5) at a middle frame of their overlap."""
    ids = np.unique(gt[:, 1]).astype(int)
    for a in ids:
        for b in ids[ids > a]:
            frames = np.intersect1d(gt[gt[:, 1] == a, 0], gt[gt[:, 1] == b, 0])
            if len(frames) < 20:
                continue
            mid = frames[len(frames) // 2]
            box_a = gt[(gt[:, 0] == mid) & (gt[:, 1] == a), 2:6]
            box_b = gt[(gt[:, 0] == mid) & (gt[:, 1] == b), 2:6]
            if iou_matrix_tlwh(box_a, box_b)[0, 0] < 0.5:
                return int(a), int(b), int(mid)
    raise AssertionError("no pair of co-visible ids in the ground truth")


def test_swapping_ids_halfway_counts_id_switches(full_gt: np.ndarray) -> None:
    a, b, swap_frame = _crossing_pair(full_gt)
    pred = full_gt.copy()
    later = pred[:, 0] >= swap_frame
    is_a, is_b = pred[:, 1] == a, pred[:, 1] == b
    pred[later & is_a, 1], pred[later & is_b, 1] = b, a
    scores = evaluate_sequence(full_gt, pred, NUM_FRAMES, "cam1")
    assert scores.idsw == 2  # each of the two people switches once
    assert scores.mota == pytest.approx(1.0 - 2 / len(full_gt))
    assert scores.tp == len(full_gt) and scores.fp == 0 and scores.fn == 0  # detection untouched at IoU 0.5
    # HOTA's id-aware matching may pair a person with its swapped id's box where the two walk close, so DetA
    # dips a hair below 1; association is what the swap really costs
    assert scores.idf1 < 1.0 and scores.assa < scores.deta


def test_camera_local_ids_match_readme_reference_point(two_cam_gt: dict[str, np.ndarray]) -> None:
    result = evaluate_cameras(two_cam_gt, _local_ids(two_cam_gt), {"cam1": NUM_FRAMES, "cam2": NUM_FRAMES})
    for cam in ("cam1", "cam2"):
        assert result.cameras[cam].idf1 == pytest.approx(1.0)
        assert result.cameras[cam].hota == pytest.approx(1.0)
    assert round(result.mtmc_idf1, 3) == README_MTMC_IDF1
    assert round(result.mtmc_hota, 3) == README_MTMC_HOTA


def test_cross_camera_equals_shifted_frame_protocol(two_cam_gt: dict[str, np.ndarray]) -> None:
    """Concatenated cameras == one sequence with camera i's frames shifted by i * gap (README uses 100000; the
    empty frames in between are neutral, so a smaller gap keeps the test fast and checks the same thing)."""
    gap = 2000
    rng = np.random.default_rng(11)
    pred = _local_ids(two_cam_gt)
    for cam, rows in pred.items():
        rows[:, 2:4] += rng.normal(0, 3, (len(rows), 2))  # jittered boxes: IoU < 1, some below 0.5
        pred[cam] = rows[rng.random(len(rows)) < 0.8]
    pred["cam1"][pred["cam1"][:, 1] == 9, 1] = 19_000  # one person split into a second id in cam1 only
    result = evaluate_cameras(two_cam_gt, pred, {"cam1": NUM_FRAMES, "cam2": NUM_FRAMES})

    def shifted(rows_by_cam: dict[str, np.ndarray]) -> np.ndarray:
        parts = []
        for i, cam in enumerate(sorted(rows_by_cam)):
            rows = rows_by_cam[cam].copy()
            rows[:, 0] += i * gap
            parts.append(rows)
        return np.concatenate(parts)

    reference = evaluate_sequence(shifted(two_cam_gt), shifted(pred), gap + NUM_FRAMES, "shifted")
    for name in SCORE_FIELDS + ("motp", "loca", "idsw", "tp", "fp", "fn", "num_gt_ids", "num_pred_ids"):
        assert getattr(result.cross_camera, name) == pytest.approx(getattr(reference, name)), name
    assert 0.0 < result.mtmc_hota < min(row.hota for row in result.cameras.values()) + 1e-9


def test_matches_trackeval_mot15_loader(tmp_path: Path, full_gt: np.ndarray) -> None:
    """Our data dict and scores equal TrackEval's own MOTChallenge (MOT15) loader on the same files."""
    from trackeval.datasets import MotChallenge2DBox

    rng = np.random.default_rng(5)
    gt = full_gt.copy()
    gt[rng.random(len(gt)) < 0.05, 6] = 0  # zero-marked gt rows: must be ignored
    pred = full_gt[rng.random(len(full_gt)) < 0.9].copy()
    pred[:, 2:6] += rng.normal(0, 2, (len(pred), 4))
    pred[:, 6] = rng.uniform(0.1, 1.0, len(pred))
    frames_13 = pred[pred[:, 1] == 13, 0]
    pred[(pred[:, 1] == 13) & (pred[:, 0] > np.median(frames_13)), 1] = 77  # an id switch halfway
    fp = pred[rng.random(len(pred)) < 0.1].copy()
    fp[:, 1] += 100
    fp[:, 2] += 200  # false positives elsewhere in the frame
    pred = np.concatenate([pred, fp])

    write_mot(tmp_path / "gt" / "seq" / "gt" / "gt.txt", gt)
    write_mot(tmp_path / "trackers" / "mine" / "data" / "seq.txt", pred)
    dataset = MotChallenge2DBox({
        "GT_FOLDER": str(tmp_path / "gt"), "TRACKERS_FOLDER": str(tmp_path / "trackers"),
        "TRACKERS_TO_EVAL": ["mine"], "BENCHMARK": "MOT15", "SEQ_INFO": {"seq": NUM_FRAMES},
        "SKIP_SPLIT_FOL": True, "PRINT_CONFIG": False,
    })
    raw = dataset.get_raw_seq_data("mine", "seq")
    theirs = dataset.get_preprocessed_seq_data(raw, "pedestrian")
    ours = build_sequence_data(read_mot(tmp_path / "gt" / "seq" / "gt" / "gt.txt"),
                               read_mot(tmp_path / "trackers" / "mine" / "data" / "seq.txt"), NUM_FRAMES, "seq")
    for key in ("num_timesteps", "num_gt_ids", "num_tracker_ids", "num_gt_dets", "num_tracker_dets"):
        assert ours[key] == theirs[key], key
    for t in range(NUM_FRAMES):
        np.testing.assert_array_equal(ours["gt_ids"][t], theirs["gt_ids"][t])
        np.testing.assert_array_equal(ours["tracker_ids"][t], theirs["tracker_ids"][t])
        np.testing.assert_allclose(ours["similarity_scores"][t], theirs["similarity_scores"][t], atol=1e-12)
    mine, reference = evaluate_data(ours, "seq"), evaluate_data(theirs, "seq")
    assert mine == reference
    assert 0.0 < mine.hota < 1.0 and mine.idsw > 0 and mine.fp > 0


def test_empty_predictions_score_zero(full_gt: np.ndarray) -> None:
    scores = evaluate_sequence(full_gt, np.zeros((0, 10)), NUM_FRAMES, "cam1")
    assert (scores.hota, scores.deta, scores.mota, scores.idf1) == (0.0, 0.0, 0.0, 0.0)
    assert scores.fn == len(full_gt) and scores.num_pred_ids == 0


def test_bad_predictions_raise_clear_errors(full_gt: np.ndarray) -> None:
    dup = np.concatenate([full_gt, full_gt[:1]])
    with pytest.raises(EvaluationError, match=r"cam1 predictions: id\(s\) 9 appear more than once in frame 1"):
        evaluate_sequence(full_gt, dup, NUM_FRAMES, "cam1")
    late = full_gt.copy()
    late[-1, 0] = NUM_FRAMES + 5
    with pytest.raises(EvaluationError, match=r"frame numbers must lie in 1..400"):
        evaluate_sequence(full_gt, late, NUM_FRAMES, "cam1")
    with pytest.raises(EvaluationError, match="different cameras"):
        evaluate_cameras({"cam1": full_gt}, {"cam2": full_gt})


def _write_predictions(folder: Path, rows_by_cam: dict[str, np.ndarray]) -> Path:
    for cam, rows in rows_by_cam.items():
        write_mot(folder / f"{cam}.txt", rows)
    return folder


def test_evaluate_dirs_missing_and_empty_predictions(pets_dir: Path, tmp_path: Path) -> None:
    gt_dir = pets_dir / "two-cam"
    with pytest.raises(MissingPredictionError) as info:
        evaluate_dirs(gt_dir, tmp_path)
    message = str(info.value)
    assert "cam1, cam2" in message and str(tmp_path / "cam1.txt") in message and str(tmp_path / "cam2.txt") in message
    (tmp_path / "cam1.txt").write_text("")
    with pytest.raises(MissingPredictionError, match=r"camera\(s\) cam2:"):
        evaluate_dirs(gt_dir, tmp_path)
    result = evaluate_dirs(gt_dir, tmp_path, cameras=["cam1"])  # empty prediction file is fine: scores 0
    assert list(result.cameras) == ["cam1"] and result.cross_camera is None
    assert result.cameras["cam1"].hota == 0.0 and result.cameras["cam1"].fn == 992
    assert result.cameras["cam1"].num_frames == NUM_FRAMES  # from seqinfo.ini
    with pytest.raises(FileNotFoundError, match="cam9"):
        evaluate_dirs(gt_dir, tmp_path, cameras=["cam9"])


def test_cli_table_and_json(pets_dir: Path, tmp_path: Path, two_cam_gt: dict[str, np.ndarray],
                            capsys: pytest.CaptureFixture[str]) -> None:
    pred_dir = _write_predictions(tmp_path / "pred", _local_ids(two_cam_gt))
    gt_dir = pets_dir / "two-cam"
    expected = evaluate_dirs(gt_dir, pred_dir)

    assert cli_main(["eval", "--gt-dir", str(gt_dir), "--pred-dir", str(pred_dir)]) == 0
    table = capsys.readouterr().out
    lines = table.splitlines()
    assert lines[0].split()[:7] == ["camera", "HOTA", "DetA", "AssA", "MOTA", "IDF1", "IDSW"]
    rows = {line.split()[0]: line.split() for line in lines if line.split() and line.split()[0] in
            ("cam1", "cam2", CROSS_CAMERA_NAME)}
    assert list(rows) == ["cam1", "cam2", CROSS_CAMERA_NAME]
    mtmc = expected.cross_camera
    assert rows[CROSS_CAMERA_NAME][1:7] == [f"{mtmc.hota:.3f}", f"{mtmc.deta:.3f}", f"{mtmc.assa:.3f}",
                                            f"{mtmc.mota:.3f}", f"{mtmc.idf1:.3f}", str(mtmc.idsw)]
    assert rows["cam2"][1:6] == ["1.000"] * 5
    assert f"MTMC-HOTA = {README_MTMC_HOTA:.3f}" in table and f"MTMC-IDF1 = {README_MTMC_IDF1:.3f}" in table

    assert cli_main(["eval", "--gt-dir", str(gt_dir), "--pred-dir", str(pred_dir), "--json",
                     "--cameras", "cam2,cam1"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert set(payload) == {"gt_dir", "pred_dir", "camera_order", "cameras", "cross_camera", "mtmc_hota",
                            "mtmc_idf1"}
    assert payload["camera_order"] == ["cam1", "cam2"]
    assert payload["cameras"]["cam1"] == expected.cameras["cam1"].to_dict()
    assert payload["cross_camera"] == mtmc.to_dict()
    assert payload["mtmc_idf1"] == pytest.approx(mtmc.idf1) and payload["mtmc_hota"] == pytest.approx(mtmc.hota)


def test_cli_missing_prediction_is_an_error(pets_dir: Path, tmp_path: Path, two_cam_gt: dict[str, np.ndarray],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    pred_dir = _write_predictions(tmp_path / "pred", {"cam1": two_cam_gt["cam1"]})
    code = cli_main(["eval", "--gt-dir", str(pets_dir / "two-cam"), "--pred-dir", str(pred_dir)])
    captured = capsys.readouterr()
    assert code == 2
    assert "cam2" in captured.err and str(pred_dir / "cam2.txt") in captured.err
    assert captured.out == ""


def test_cli_malformed_prediction_is_an_error(pets_dir: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    pred_dir = tmp_path / "pred"
    pred_dir.mkdir()
    (pred_dir / "cam1.txt").write_text("1,9,10,20,30,40,1,-1,-1,-1\n1,oops,10,20,30\n")
    code = cli_main(["eval", "--gt-dir", str(pets_dir / "full"), "--pred-dir", str(pred_dir)])
    assert code == 2
    assert f"{pred_dir / 'cam1.txt'}:2" in capsys.readouterr().err

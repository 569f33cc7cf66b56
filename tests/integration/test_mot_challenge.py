"""Real MOTChallenge sequences (``mot-dev``: TUD-Campus, KITTI-17, MOT15 ground truth) and the MOT16/17 gt
dialect: the sequence folder as a source, both dialects scored exactly as TrackEval's own MOTChallenge loader and
preprocessing score them, ``mctrack eval``'s errors, and a short CLI replay of TUD-Campus scored end to end."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from paths import DATA

from streams.factory import open_source
from streams.image_folder import ImageFolderSource
from tracker.cli import main as cli_main
from tracker.config.source import SourceConfig
from tracker.offline.evaluation import SequenceScores, build_sequence_data, evaluate_data, evaluate_dirs
from tracker.offline.gt_format import MOT16_CLASS_IDS, detect_gt_format
from tracker.offline.motio import read_mot, read_seqinfo, write_mot

MOT_DEV = DATA / "mot-dev"
SEQUENCES = ("KITTI-17", "TUD-Campus")
DISTRACTORS = ("person_on_vehicle", "static_person", "distractor", "reflection")  # TrackEval's, MOT16/17
SLICE_FRAMES = 30  # TUD-Campus frames replayed by the CLI test (CI has 2 cores)


@pytest.fixture(scope="module")
def mot_dev() -> Path:
    assert MOT_DEV.is_dir(), f"shared evaluation data missing: expected {MOT_DEV} (clone shared/ beside the repo)"
    return MOT_DEV


def _trackeval_data(gt_folder: Path, trackers_folder: Path, seq: str, benchmark: str,
                    num_frames: int | None = None) -> dict:
    """TrackEval's own loader and preprocessing: ``<gt_folder>/<seq>/gt/gt.txt``, ``<trackers>/mine/<seq>.txt``."""
    from trackeval.datasets import MotChallenge2DBox

    dataset = MotChallenge2DBox({
        "GT_FOLDER": str(gt_folder), "TRACKERS_FOLDER": str(trackers_folder), "TRACKERS_TO_EVAL": ["mine"],
        "TRACKER_SUB_FOLDER": "", "BENCHMARK": benchmark, "SEQ_INFO": {seq: num_frames}, "SKIP_SPLIT_FOL": True,
        "PRINT_CONFIG": False,
    })
    return dataset.get_preprocessed_seq_data(dataset.get_raw_seq_data("mine", seq), "pedestrian")


def _assert_same_data(ours: dict, theirs: dict) -> None:
    for key in ("num_timesteps", "num_gt_ids", "num_tracker_ids", "num_gt_dets", "num_tracker_dets"):
        assert ours[key] == theirs[key], key
    for t in range(ours["num_timesteps"]):
        np.testing.assert_array_equal(ours["gt_ids"][t], theirs["gt_ids"][t])
        np.testing.assert_array_equal(ours["tracker_ids"][t], theirs["tracker_ids"][t])
        np.testing.assert_allclose(ours["similarity_scores"][t], theirs["similarity_scores"][t], atol=1e-12)


def _assert_same_scores(ours: SequenceScores, theirs: SequenceScores) -> None:
    """Equal, up to the last bit of a float (IoU computed in a different order)."""
    mine, reference = ours.to_dict(), theirs.to_dict()
    assert mine.pop("name") == reference.pop("name")
    assert mine == pytest.approx(reference, rel=1e-12, abs=1e-12)


def _noisy_predictions(gt: np.ndarray, seed: int) -> np.ndarray:
    """gt boxes jittered, 10% dropped, an id switch, and false positives elsewhere."""
    rng = np.random.default_rng(seed)
    pred = gt[rng.random(len(gt)) < 0.9].copy()
    pred[:, 2:6] += rng.normal(0, 1.5, (len(pred), 4))
    pred[:, 6] = rng.uniform(0.1, 1.0, len(pred))
    pred[:, 7:] = -1
    first_id = pred[0, 1]
    pred[(pred[:, 1] == first_id) & (pred[:, 0] > np.median(pred[:, 0])), 1] = 777
    fp = pred[rng.random(len(pred)) < 0.1].copy()
    fp[:, 1] += 1000
    fp[:, 2] += 300
    return np.concatenate([pred, fp])


# ----------------------------------------------------------------------------------------------------------------
# the sequence folder as a source


def test_sequence_folder_source_follows_seqinfo(mot_dev: Path, tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    info = read_seqinfo(mot_dev / "KITTI-17")
    with open_source(str(mot_dev / "KITTI-17"), "KITTI-17", SourceConfig()) as source:
        assert isinstance(source, ImageFolderSource)
        assert source.fps == info["frameRate"] and source.frame_count == info["seqLength"]
        first = next(iter(source))
        assert first.index == 1 and first.image.shape[:2] == (info["imHeight"], info["imWidth"])

    # imDir and imExt are honoured; a seqLength the images do not match is a warning
    seq = tmp_path / "seq"
    (seq / "frames").mkdir(parents=True)
    for n in (1, 2, 3):
        shutil.copy(mot_dev / "TUD-Campus" / "img1" / f"{n:06d}.jpg", seq / "frames" / f"{n:06d}.jpg")
    (seq / "frames" / "000004.png").write_bytes(b"not read: imExt is .jpg")
    (seq / "seqinfo.ini").write_text("[Sequence]\nname=seq\nimDir=frames\nframeRate=12.5\nseqLength=5\n"
                                     "imWidth=640\nimHeight=480\nimExt=.jpg\n")
    caplog.set_level(logging.WARNING, logger="streams")
    with open_source(str(seq), "seq", SourceConfig()) as source:
        frames = list(source)
        assert source.fps == 12.5 and source.frame_count == 5
    assert [f.index for f in frames] == [1, 2, 3]
    assert [f.timestamp_s for f in frames] == pytest.approx([0.0, 0.08, 0.16])
    assert any("seqLength = 5" in r.getMessage() for r in caplog.records)


# ----------------------------------------------------------------------------------------------------------------
# the two gt dialects, against TrackEval


@pytest.mark.parametrize("seq", SEQUENCES)
def test_mot15_sequences_score_as_trackeval(mot_dev: Path, tmp_path: Path, seq: str) -> None:
    """mot-dev's MOT15 gt (KITTI-17 has zero-marked boxes) read in place, scored as TrackEval's MOT15 benchmark."""
    gt = read_mot(mot_dev / seq / "gt" / "gt.txt")
    assert detect_gt_format(gt) == "mot15"
    num_frames = int(read_seqinfo(mot_dev / seq)["seqLength"])
    write_mot(tmp_path / "mine" / f"{seq}.txt", _noisy_predictions(gt, seed=len(seq)))
    theirs = _trackeval_data(mot_dev, tmp_path, seq, "MOT15")  # seqLength from seqinfo.ini, as ours
    ours = build_sequence_data(gt, read_mot(tmp_path / "mine" / f"{seq}.txt"), num_frames, seq)
    _assert_same_data(ours, theirs)
    result = evaluate_dirs(mot_dev, tmp_path / "mine", [seq])
    _assert_same_scores(result.cameras[seq], evaluate_data(theirs, seq))
    if seq == "KITTI-17":
        assert ours["num_gt_dets"] == int((gt[:, 6] != 0).sum()) < len(gt)  # zero-marked boxes ignored


def _mot16_fixture(mot_dev: Path) -> tuple[np.ndarray, np.ndarray, int]:
    """MOT16/17-style gt built from TUD-Campus: every box relabelled with a class, some not considered, and
    predictions on every box (pedestrians and distractors alike), plus false positives.

    Returns (gt rows with 9 columns, predictions, boxes that are pedestrians with consider 1)."""
    tud = read_mot(mot_dev / "TUD-Campus" / "gt" / "gt.txt")
    rng = np.random.default_rng(16)
    ids = np.unique(tud[:, 1]).astype(int)
    id_class = {i: MOT16_CLASS_IDS["pedestrian"] for i in ids}
    for i, name in zip(ids[1:], (*DISTRACTORS, "car", "occluder")):  # ids[0] stays a pedestrian; the rest too
        id_class[int(i)] = MOT16_CLASS_IDS[name]
    gt = np.zeros((len(tud), 9))
    gt[:, :6] = tud[:, :6]
    gt[:, 6] = 1
    gt[:, 7] = [id_class[int(i)] for i in tud[:, 1]]
    gt[:, 8] = rng.uniform(0, 1, len(tud))
    gt[rng.random(len(gt)) < 0.1, 6] = 0  # some boxes not considered
    pedestrians = int(((gt[:, 7] == 1) & (gt[:, 6] == 1)).sum())
    return gt, _noisy_predictions(tud, seed=17), pedestrians


def test_mot16_distractors_and_classes_score_as_trackeval(mot_dev: Path, tmp_path: Path) -> None:
    gt, pred, pedestrians = _mot16_fixture(mot_dev)
    seq = "MOT16-fixture"
    gt_file = tmp_path / "gt" / seq / "gt" / "gt.txt"
    gt_file.parent.mkdir(parents=True)
    gt_file.write_text("".join(f"{int(r[0])},{int(r[1])},{r[2]:.3f},{r[3]:.3f},{r[4]:.3f},{r[5]:.3f},{int(r[6])},"
                               f"{int(r[7])},{r[8]:.4f}\n" for r in gt))  # 9 columns, as MOT16 writes them
    (tmp_path / "gt" / seq / "seqinfo.ini").write_text("[Sequence]\nname=MOT16-fixture\nseqLength=71\n")
    write_mot(tmp_path / "trackers" / "mine" / f"{seq}.txt", pred)
    read = read_mot(gt_file)
    assert detect_gt_format(read) == "mot16"

    theirs = _trackeval_data(tmp_path / "gt", tmp_path / "trackers", seq, "MOT17", 71)
    ours = build_sequence_data(read, read_mot(tmp_path / "trackers" / "mine" / f"{seq}.txt"), 71, seq)
    _assert_same_data(ours, theirs)
    assert ours["num_gt_dets"] == pedestrians  # only class 1 with consider 1
    assert ours["num_tracker_dets"] < len(pred)  # predictions on distractors removed
    scores = evaluate_dirs(tmp_path / "gt", tmp_path / "trackers" / "mine", gt_format="mot16").cameras[seq]
    _assert_same_scores(scores, evaluate_data(theirs, seq))
    as_mot15 = evaluate_dirs(tmp_path / "gt", tmp_path / "trackers" / "mine", gt_format="mot15").cameras[seq]
    assert as_mot15.num_gt_dets > scores.num_gt_dets  # every considered box counts, whatever its class
    assert as_mot15.fp < scores.fp  # ... so predictions on distractors/cars/occluders hit gt instead of missing


# ----------------------------------------------------------------------------------------------------------------
# mctrack eval on the MOTChallenge layout: table, errors


def test_cli_eval_reads_the_layout_and_reports_bad_input(mot_dev: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    pred = tmp_path / "pred"
    for seq in SEQUENCES:
        gt = read_mot(mot_dev / seq / "gt" / "gt.txt")
        write_mot(pred / f"{seq}.txt", gt[gt[:, 6] != 0])  # the gt as predictions (a box on an ignored one: FP)
    assert cli_main(["eval", "--gt-dir", str(mot_dev), "--pred-dir", str(pred)]) == 0
    table = capsys.readouterr().out
    for seq in SEQUENCES:
        row = next(line for line in table.splitlines() if line.startswith(seq)).split()
        assert row[1:6] == ["1.000"] * 5  # HOTA DetA AssA MOTA IDF1
    assert cli_main(["eval", "--gt-dir", str(mot_dev / "TUD-Campus"), "--pred-dir", str(pred)]) == 0  # one seq

    assert cli_main(["eval", "--gt-dir", str(mot_dev), "--pred-dir", str(pred), "--gt-format", "mot16"]) == 2
    assert "not MOT16/17 ground truth" in capsys.readouterr().err

    broken = tmp_path / "broken" / "seq"
    (broken / "gt").mkdir(parents=True)
    (broken / "gt" / "gt.txt").write_text("1,1,10,10,20,40,1,-1,-1,-1\n2,1,10,10,20\n")
    write_mot(pred / "seq.txt", [[1, 1, 10, 10, 20, 40]])
    assert cli_main(["eval", "--gt-dir", str(broken.parent), "--pred-dir", str(pred)]) == 2
    assert "seqinfo.ini is missing" in capsys.readouterr().err
    (broken / "seqinfo.ini").write_text("[Sequence]\nname=seq\nseqLength=2\n")
    assert cli_main(["eval", "--gt-dir", str(broken.parent), "--pred-dir", str(pred)]) == 2
    assert "gt.txt:2: expected 6 to 10" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------------------------
# a short replay of a real sequence, through the CLI


def _tud_slice(mot_dev: Path, root: Path, frames: int) -> Path:
    """The first ``frames`` frames of TUD-Campus as a MOTChallenge sequence (seqinfo.ini, img1/, gt/gt.txt)."""
    src, seq = mot_dev / "TUD-Campus", root / "TUD-Campus"
    (seq / "img1").mkdir(parents=True)
    for n in range(1, frames + 1):
        (seq / "img1" / f"{n:06d}.jpg").symlink_to(src / "img1" / f"{n:06d}.jpg")
    info = (src / "seqinfo.ini").read_text()
    (seq / "seqinfo.ini").write_text(info.replace(f"seqLength={read_seqinfo(src)['seqLength']}",
                                                  f"seqLength={frames}"))
    gt = read_mot(src / "gt" / "gt.txt")
    write_mot(seq / "gt" / "gt.txt", gt[gt[:, 0] <= frames])
    return seq


def test_cli_replay_of_a_tud_campus_slice_is_scored(mot_dev: Path, tmp_path: Path, model_overrides: list[str],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    seq = _tud_slice(mot_dev, tmp_path / "data", SLICE_FRAMES)
    out = tmp_path / "out"
    sets = sum((["--set", s] for s in model_overrides), [])
    assert cli_main(["replay", "--camera", str(seq), "--no-hub", "--no-progress", "--out", str(out), *sets]) == 0
    rows = read_mot(out / "TUD-Campus.txt")  # named after the folder
    assert rows[:, 0].min() == 1 and rows[:, 0].max() == SLICE_FRAMES  # gt's 1-based numbering, every frame
    capsys.readouterr()
    assert cli_main(["eval", "--gt-dir", str(tmp_path / "data"), "--pred-dir", str(out), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)["cameras"]["TUD-Campus"]
    assert scores["num_frames"] == SLICE_FRAMES
    assert scores["hota"] > 0.45 and scores["idf1"] > 0.6  # a shifted frame numbering scores far lower

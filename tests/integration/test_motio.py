"""MOTChallenge file I/O: round trips, tolerance of short rows, and errors that name file and line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paths import DEV

from tracker.offline.motio import (
    MOT_NUM_COLUMNS,
    MotFormatError,
    MotWriter,
    read_mot,
    read_seqinfo,
    write_mot,
)

PETS_DIR = DEV


@pytest.fixture(scope="module")
def pets_dir() -> Path:
    assert PETS_DIR.is_dir(), f"shared evaluation data missing: expected {PETS_DIR} (clone shared/ beside the repo)"
    return PETS_DIR


def _random_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    rows = np.zeros((n, MOT_NUM_COLUMNS))
    rows[:, 0] = rng.integers(1, 50, n)
    rows[:, 1] = rng.permutation(n) + 1  # unique ids, so (frame, id) order is total
    rows[:, 2:6] = np.round(rng.uniform(0, 500, (n, 4)), 3)
    rows[:, 6] = np.round(rng.uniform(0, 1, n), 4)
    rows[:, 7:] = -1
    return rows


def test_write_then_read_round_trip_sorted(tmp_path: Path) -> None:
    rows = _random_rows(np.random.default_rng(0), 200)
    path = tmp_path / "sub" / "cam1.txt"
    write_mot(path, rows)
    back = read_mot(path)
    order = np.lexsort((rows[:, 1], rows[:, 0]))
    assert back.shape == (200, MOT_NUM_COLUMNS)
    assert back.dtype == np.float64
    np.testing.assert_allclose(back, rows[order], atol=5e-4)
    assert (np.diff(back[:, 0]) >= 0).all()
    assert not [p for p in path.parent.iterdir() if p.name != "cam1.txt"], "temp file left behind"


def test_write_mot_formats_ints_and_three_decimals(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    write_mot(path, [[2, 5, 1.23456, 2, 3, 4, 0.5], [1, 9, 10, 20, 30, 40, 1]])
    assert path.read_text().splitlines() == [
        "1,9,10.000,20.000,30.000,40.000,1,-1,-1,-1",
        "2,5,1.235,2.000,3.000,4.000,0.5,-1,-1,-1",
    ]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 10_000), st.integers(-5, 10_000),
                          *[st.floats(-1e4, 1e4, allow_nan=False) for _ in range(4)],
                          st.floats(0, 1)), min_size=0, max_size=20))
def test_round_trip_property(tmp_path_factory: pytest.TempPathFactory, rows: list[tuple]) -> None:
    path = tmp_path_factory.mktemp("rt") / "p.txt"
    write_mot(path, np.asarray(rows, dtype=float).reshape(-1, 7))
    back = read_mot(path)
    assert back.shape == (len(rows), MOT_NUM_COLUMNS)
    if rows:
        ref = np.asarray(rows, dtype=float)
        ref = ref[np.lexsort((ref[:, 1], ref[:, 0]))]
        np.testing.assert_array_equal(back[:, :2], ref[:, :2])
        np.testing.assert_allclose(back[:, 2:6], ref[:, 2:6], atol=5e-4 + 1e-12)
        np.testing.assert_allclose(back[:, 6], ref[:, 6], rtol=1e-5, atol=1e-6)
        assert (back[:, 7:] == -1).all()


def test_read_real_ground_truth(pets_dir: Path) -> None:
    gt = read_mot(pets_dir / "two-cam" / "cam1" / "gt.txt")
    assert gt.shape == (992, MOT_NUM_COLUMNS)  # README: 992 boxes
    assert len(np.unique(gt[:, 1])) == 6  # one id per person: 6 people (a returning person keeps the id)
    annotation = read_mot(pets_dir / "two-cam" / "cam1" / "gt_annotation.txt")
    assert annotation.shape == gt.shape and len(np.unique(annotation[:, 1])) == 8  # the annotation's own ids
    assert gt[:, 0].min() >= 1 and gt[:, 0].max() <= 400
    assert (gt[:, 6] == 1).all() and (gt[:, 7:] == -1).all()


def test_short_rows_and_blank_lines_are_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "short.txt"
    path.write_text("\n1,3,10,20,30,40\n\n  2, 4, 1.5, 2.5, 3, 4, 0.7  \n3,5,1,2,3,4,0.2,7,8\n\n")
    rows = read_mot(path)
    np.testing.assert_array_equal(rows, [
        [1, 3, 10, 20, 30, 40, 1, -1, -1, -1],
        [2, 4, 1.5, 2.5, 3, 4, 0.7, -1, -1, -1],
        [3, 5, 1, 2, 3, 4, 0.2, 7, 8, -1],
    ])


def test_empty_file_reads_as_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_text("")
    assert read_mot(path).shape == (0, MOT_NUM_COLUMNS)


@pytest.mark.parametrize(("bad_line", "expected"), [
    ("1,2,3,4,5", "expected 6 to 10"),
    ("1,2,3,4,5,6,7,8,9,10,11", "got 11"),
    ("1,2,3,abc,5,6,1,-1,-1,-1", "column 4 is 'abc'"),
    ("0,2,3,4,5,6", "must be an integer >= 1"),
    ("1.5,2,3,4,5,6", "must be an integer >= 1"),
    ("1,2.5,3,4,5,6", "id '2.5' must be an integer"),
    ("1,2,3,4,nan,6", "finite"),
])
def test_malformed_line_names_file_and_line(tmp_path: Path, bad_line: str, expected: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("1,1,10,20,30,40,1,-1,-1,-1\n\n" + bad_line + "\n")
    with pytest.raises(MotFormatError) as info:
        read_mot(path)
    assert f"{path}:3" in str(info.value)
    assert expected in str(info.value)


def test_write_mot_rejects_bad_rows(tmp_path: Path) -> None:
    with pytest.raises(MotFormatError, match="shape"):
        write_mot(tmp_path / "a.txt", np.zeros((3, 4)))
    with pytest.raises(MotFormatError, match="1-based"):
        write_mot(tmp_path / "a.txt", [[0, 1, 1, 1, 1, 1]])
    assert not (tmp_path / "a.txt").exists()


def test_mot_writer_streams_sorted_and_renames_at_close(tmp_path: Path) -> None:
    path = tmp_path / "out" / "cam1.txt"
    writer = MotWriter(path)
    writer.write(1, 7, (10, 20, 30, 40), 0.9)
    writer.write(1, 3, (1, 2, 3, 4), 0.8)
    writer.write(2, 3, np.array([1.5, 2.5, 3.5, 4.5]), 0.7)
    assert not path.exists(), "destination must not appear before close()"
    writer.close()
    writer.close()  # idempotent
    assert writer.rows_written == 3
    rows = read_mot(path)
    np.testing.assert_allclose(rows, [
        [1, 3, 1, 2, 3, 4, 0.8, -1, -1, -1],
        [1, 7, 10, 20, 30, 40, 0.9, -1, -1, -1],
        [2, 3, 1.5, 2.5, 3.5, 4.5, 0.7, -1, -1, -1],
    ])
    assert sorted(p.name for p in path.parent.iterdir()) == ["cam1.txt"]
    with pytest.raises(ValueError, match="closed"):
        writer.write(3, 1, (0, 0, 1, 1))


def test_mot_writer_keeps_old_file_on_error(tmp_path: Path) -> None:
    path = tmp_path / "cam1.txt"
    path.write_text("1,1,1.000,1.000,1.000,1.000,1,-1,-1,-1\n")
    with pytest.raises(RuntimeError):
        with MotWriter(path) as writer:
            writer.write(1, 2, (5, 5, 5, 5))
            raise RuntimeError("replay crashed")
    assert path.read_text() == "1,1,1.000,1.000,1.000,1.000,1,-1,-1,-1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cam1.txt"]


def test_mot_writer_rejects_bad_rows(tmp_path: Path) -> None:
    with MotWriter(tmp_path / "w.txt") as writer:
        with pytest.raises(MotFormatError, match="tlwh"):
            writer.write(1, 1, (1, 2, 3))
        with pytest.raises(MotFormatError, match="frame"):
            writer.write(0, 1, (1, 2, 3, 4))
    assert read_mot(tmp_path / "w.txt").shape == (0, MOT_NUM_COLUMNS)


def test_read_seqinfo_real_and_errors(pets_dir: Path, tmp_path: Path) -> None:
    info = read_seqinfo(pets_dir / "two-cam" / "cam2")
    assert info["name"] == "cam2"
    assert info["seqLength"] == 400 and info["frameRate"] == 7
    assert (info["imWidth"], info["imHeight"]) == (448, 576)
    assert read_seqinfo(pets_dir / "two-cam" / "cam2" / "seqinfo.ini") == info
    with pytest.raises(FileNotFoundError, match="seqinfo.ini"):
        read_seqinfo(tmp_path)
    (tmp_path / "seqinfo.ini").write_text("[Other]\nx=1\n")
    with pytest.raises(MotFormatError, match=r"\[Sequence\]"):
        read_seqinfo(tmp_path)

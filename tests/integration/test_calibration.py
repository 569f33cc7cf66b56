"""The calibration file (tracker.config.calibration), point files, `mctrack calibrate` and the ground pictures."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from paths import DATA

from tracker.cli import main
from tracker.config import ConfigError
from tracker.config.calibration import (
    CameraCalibration,
    calibration_from_mapping,
    load_calibration,
    save_calibration,
    update_calibration,
)
from tracker.config.calibration_points import read_metropolis_points, read_point_pairs_csv
from tracker.core.geometry import feet_visible, foot_points_xyxy, image_to_ground
from tracker.offline.ground_map import render_ground_map

SHARED = DATA
EPFL = SHARED / "epfl-terrace1-dev"
PETS = SHARED / "pets-s2l1-dev" / "two-cam"
EPFL_WH = (360, 288)
C0 = [[-0.0971434653, -0.4045618236, 54.7564076555],
      [0.0697616429, -0.625715761, 50.5422828708],
      [0.0009474489, -0.0487376765, 1.0]]


def _write(path: Path, data: object) -> Path:
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _one_camera(tmp_path: Path, camera: dict[str, object], name: str = "c0") -> Path:
    return _write(tmp_path / "calibration.yaml", {"cameras": {name: camera}})


def _first_frame(video: Path) -> np.ndarray:
    cap = cv2.VideoCapture(str(video))
    ok, frame = cap.read()
    cap.release()
    assert ok, f"cannot read {video}"
    return np.asarray(frame)


# ---- the calibration file ------------------------------------------------------------------------------------

@pytest.mark.parametrize("path, cameras, image_wh", [
    (EPFL / "calibration.yaml", ["c0", "c1"], (360, 288)),
    (PETS / "calibration.yaml", ["cam1", "cam2"], (448, 576)),
])
def test_shared_calibration_files_load(path: Path, cameras: list[str], image_wh: tuple[int, int]) -> None:
    assert path.is_file(), f"shared evaluation data missing: {path}"
    cals = load_calibration(path, cameras)
    assert list(cals) == cameras
    for name, cal in cals.items():
        checked = cal.for_image(image_wh, str(path))
        assert checked.image_size == image_wh
        # oriented: the bottom-centre pixel (nearest floor) has a ground position
        assert np.isfinite(image_to_ground(checked.image_to_ground, np.array([[image_wh[0] / 2, image_wh[1]]]))).all()
        # same mapping as the raw numbers in the file (up to the matrix's sign)
        raw = np.array(yaml.safe_load(path.read_text())["cameras"][name]["image_to_ground"], dtype=float)
        uv = np.array([[10.0, image_wh[1] - 1.0], [image_wh[0] / 2, image_wh[1] * 0.75]])
        xyw = np.c_[uv, np.ones(2)] @ raw.T
        np.testing.assert_allclose(image_to_ground(checked.image_to_ground, uv), xyw[:, :2] / xyw[:, 2:])


def test_save_and_update_keep_other_cameras_and_keys(tmp_path: Path) -> None:
    src = EPFL / "calibration.yaml"
    out = tmp_path / "calibration.yaml"
    out.write_text(src.read_text())
    new = CameraCalibration("c2", np.array([[0.01, 0, 0], [0, 0.02, 0], [0, 0, 1.0]]), (640, 480))
    cals = update_calibration(out, new)
    assert list(cals) == ["c0", "c1", "c2"]
    data = yaml.safe_load(out.read_text())
    assert "EPFL" in data["ground_plane"] and data["units"] == "metres"
    again = load_calibration(out)
    assert again["c2"].image_size == (640, 480)
    for name in ("c0", "c1"):
        uv = np.array([[100.0, 200.0], [300.0, 280.0]])
        np.testing.assert_allclose(image_to_ground(again[name].image_to_ground, uv),
                                   image_to_ground(load_calibration(src)[name].image_to_ground, uv))
    save_calibration(tmp_path / "sub" / "only.yaml", {"c2": new})
    assert list(load_calibration(tmp_path / "sub" / "only.yaml")) == ["c2"]


def test_inline_calibration_from_mapping() -> None:
    cal = calibration_from_mapping("c0", {"image_to_ground": sum(C0, []), "image_size": [360, 288]},
                                   "site.yaml cameras[0].calibration")
    assert cal.image_size == (360, 288) and cal.image_to_ground.shape == (3, 3)
    with pytest.raises(ConfigError, match=r"site.yaml cameras\[0\].calibration: camera 'c0': unknown key "
                                          r"'image_to_gound' \(did you mean 'image_to_ground'\?\)"):
        calibration_from_mapping("c0", {"image_to_gound": C0}, "site.yaml cameras[0].calibration")


@pytest.mark.parametrize("camera, message", [
    ({"image_to_ground": [[1, 0, 0], [0, 1, 0]]}, r"must be a 3x3 matrix .*three rows"),
    ({"image_to_ground": [[1, 2, 3], [2, 4, 6], [0, 0, 1]]}, r"is singular .*mctrack calibrate"),
    ({"image_to_ground": [[1, 0, 0], [0, "x", 0], [0, 0, 1]]}, r"image_to_ground\[1\]\[1\] is 'x', not a number"
                                                                r"; write plain numbers"),
    ({"image_to_ground": [[1, 0, 0], [0, float("nan"), 0], [0, 0, 1]]}, r"not finite"),
    ({"image_to_ground": [[1, 0, 0], [0, 1, 0], [0, -0.005, 1]], "image_size": [360, 288]},
     r"horizon inside the lower half of the 360x288 image.*fix the numbers"),
    ({"image_to_ground": C0, "image_size": [360]}, r"image_size is \[360\]; write \[width, height\]"),
    ({}, r"image_to_ground is missing; add the 3x3"),
])
def test_bad_calibration_files_name_file_camera_and_fix(tmp_path: Path, camera: dict[str, object],
                                                        message: str) -> None:
    path = _one_camera(tmp_path, camera)
    with pytest.raises(ConfigError, match=message) as info:
        load_calibration(path)
    assert str(info.value).startswith(f"{path}: camera 'c0': ")


def test_unknown_camera_name(tmp_path: Path) -> None:
    path = _one_camera(tmp_path, {"image_to_ground": C0}, name="cam_1")
    with pytest.raises(ConfigError, match=rf"{path}: camera 'cam_1': no such camera \(did you mean 'cam1'\?\); "
                                          r"the cameras are cam1, cam2"):
        load_calibration(path, ["cam1", "cam2"])
    assert list(load_calibration(path, ["cam_1", "other"])) == ["cam_1"]  # cameras without an entry are fine


def test_frame_size_is_checked_at_the_first_frame(tmp_path: Path) -> None:
    cal = load_calibration(_one_camera(tmp_path, {"image_to_ground": C0, "image_size": [360, 288]}))["c0"]
    with pytest.raises(ConfigError, match=r"made for 360x288 images but the camera delivers 720x576; recalibrate"):
        cal.for_image((720, 576), "calibration.yaml")
    tilted = load_calibration(_one_camera(tmp_path, {"image_to_ground": [[1, 0, 0], [0, 1, 0], [0, -0.005, 1]]}))
    with pytest.raises(ConfigError, match=r"camera 'c0': image_to_ground puts the horizon"):
        tilted["c0"].for_image((360, 288), "calibration.yaml")


def test_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_calibration(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("cameras: [c0, c1]\n")
    with pytest.raises(ConfigError, match=r"expected a mapping with `cameras:"):
        load_calibration(bad)
    bad.write_text("units: feet\ncameras: {}\n")
    with pytest.raises(ConfigError, match="must be in metres"):
        load_calibration(bad)


# ---- point files ------------------------------------------------------------------------------------------

def _csv_from_homography(path: Path, h: np.ndarray, uv: np.ndarray, header: str = "label,u_px,v_px,x_m,y_m") -> Path:
    xy = image_to_ground(h, uv)
    lines = [header] + [f"p{i},{u:.3f},{v:.3f},{x:.4f},{y:.4f}" for i, ((u, v), (x, y)) in enumerate(zip(uv, xy))]
    path.write_text("\n".join(lines) + "\n")
    return path


FLOOR_UV = np.array([[20.0, 280.0], [340.0, 280.0], [330.0, 120.0], [30.0, 110.0], [180.0, 200.0], [100.0, 240.0],
                     [260.0, 160.0], [180.0, 90.0]])


def test_point_csv_errors(tmp_path: Path) -> None:
    h = load_calibration(EPFL / "calibration.yaml")["c0"].image_to_ground
    ok = read_point_pairs_csv(_csv_from_homography(tmp_path / "ok.csv", h, FLOOR_UV))
    assert len(ok) == 8 and ok.labels[0] == "p0"
    with pytest.raises(ConfigError, match=r"3 point pair\(s\), a homography needs at least 4"):
        read_point_pairs_csv(_csv_from_homography(tmp_path / "three.csv", h, FLOOR_UV[:3]))
    with pytest.raises(ConfigError, match=r"missing x_m"):
        read_point_pairs_csv(_csv_from_homography(tmp_path / "hdr.csv", h, FLOOR_UV, "label,u_px,v_px,x,y_m"))
    text = (tmp_path / "ok.csv").read_text().replace("p2,330.000", "p2,3x0")
    (tmp_path / "nan.csv").write_text(text)
    with pytest.raises(ConfigError, match=r"nan.csv: line 4: u_px is '3x0', not a number"):
        read_point_pairs_csv(tmp_path / "nan.csv")


def _metropolis(path: Path, h: np.ndarray) -> Path:
    xy = image_to_ground(h, FLOOR_UV)
    sensor = {"type": "camera", "id": "Camera_01", "attributes": [{"name": "frameWidth", "value": "360"},
                                                                  {"name": "frameHeight", "value": "288"}],
              "imageCoordinates": [{"x": float(u), "y": float(v)} for u, v in FLOOR_UV],
              "globalCoordinates": [{"x": float(x), "y": float(y), "z": 0.0} for x, y in xy]}
    other = {"type": "camera", "id": "Camera_02", "imageCoordinates": [], "globalCoordinates": []}
    path.write_text(json.dumps({"version": "1.0", "osmURL": "", "calibrationType": "cartesian",
                                "sensors": [sensor, other]}))
    return path


def test_metropolis_points(tmp_path: Path) -> None:
    h = load_calibration(EPFL / "calibration.yaml")["c0"].image_to_ground
    path = _metropolis(tmp_path / "calibration.json", h)
    sensor = read_metropolis_points(path, "Camera_01")
    assert sensor.image_size == (360, 288) and len(sensor.points) == 8
    with pytest.raises(ConfigError, match=r"2 sensors \(Camera_01, Camera_02\); choose one with --sensor"):
        read_metropolis_points(path)
    with pytest.raises(ConfigError, match=r"no sensor with id 'Camera_9'; the sensors are Camera_01, Camera_02"):
        read_metropolis_points(path, "Camera_9")


# ---- mctrack calibrate --------------------------------------------------------------------------------------

def test_calibrate_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    h = load_calibration(EPFL / "calibration.yaml")["c0"].for_image(EPFL_WH).image_to_ground
    frame = _first_frame(EPFL / "c0" / "video.mp4")
    cv2.imwrite(str(tmp_path / "frame.png"), frame)
    points = _csv_from_homography(tmp_path / "points.csv", h, FLOOR_UV)
    out = tmp_path / "calibration.yaml"
    _write(out, {"units": "metres", "note": "site survey", "cameras": {"c1": {"image_to_ground": C0}}})
    check = tmp_path / "check.png"
    rc = main(["calibrate", "--camera", "c0", "--points", str(points), "--out", str(out),
               "--image", str(tmp_path / "frame.png"), "--check", str(check)])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    assert "error: median" in printed and "p7" in printed
    cals = load_calibration(out)
    assert list(cals) == ["c1", "c0"] and cals["c0"].image_size == EPFL_WH
    assert yaml.safe_load(out.read_text())["note"] == "site survey"
    probe = np.array([[60.0, 250.0], [200.0, 150.0], [300.0, 230.0]])
    # the file keeps 4-digit metres from the CSV: agreement within a centimetre
    np.testing.assert_allclose(image_to_ground(cals["c0"].image_to_ground, probe), image_to_ground(h, probe),
                               atol=0.01)
    picture = cv2.imread(str(check))
    assert picture is not None and picture.shape == (2 * 288, 2 * 360, 3)  # small frames are enlarged for labels
    enlarged = cv2.resize(frame, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    changed = np.any(np.abs(picture.astype(int) - enlarged.astype(int)) > 30, axis=2)
    assert changed.mean() > 0.02  # grid, points and labels drawn over the frame


def test_calibrate_metropolis_with_video(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    h = load_calibration(EPFL / "calibration.yaml")["c0"].image_to_ground
    path = _metropolis(tmp_path / "calibration.json", h)
    out = tmp_path / "cal.yaml"
    rc = main(["calibrate", "--camera", "c0", "--metropolis", str(path), "--sensor", "Camera_01", "--out", str(out),
               "--video", str(EPFL / "c0" / "video.mp4"), "--check", str(tmp_path / "check.jpg")])
    assert rc == 0, capsys.readouterr()
    assert load_calibration(out)["c0"].image_size == EPFL_WH and (tmp_path / "check.jpg").stat().st_size > 0


@pytest.mark.parametrize("case, message", [
    ("three", "3 point pair(s), a homography needs at least 4"),
    ("text", "not a number"),
    ("missing", "does not exist"),
    ("line", "lie on (nearly) one line"),
    ("sensor", "no sensor with id 'nope'"),
])
def test_calibrate_bad_input_exits_2_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        case: str, message: str) -> None:
    h = load_calibration(EPFL / "calibration.yaml")["c0"].image_to_ground
    args = ["calibrate", "--camera", "c0", "--out", str(tmp_path / "cal.yaml")]
    if case == "three":
        args += ["--points", str(_csv_from_homography(tmp_path / "p.csv", h, FLOOR_UV[:3]))]
    elif case == "text":
        (tmp_path / "p.csv").write_text("u_px,v_px,x_m,y_m\n1,2,3,4\n5,6,7,eight\n9,1,2,3\n4,5,6,7\n")
        args += ["--points", str(tmp_path / "p.csv")]
    elif case == "missing":
        args += ["--points", str(tmp_path / "nothing.csv")]
    elif case == "line":
        line = np.array([[10.0 * i, 100.0 + 20.0 * i] for i in range(6)])
        args += ["--points", str(_csv_from_homography(tmp_path / "p.csv", h, line))]
    else:
        args += ["--metropolis", str(_metropolis(tmp_path / "m.json", h)), "--sensor", "nope"]
    rc = main(args)
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "cal.yaml").exists()


# ---- the ground map of the EPFL ground truth ---------------------------------------------------------------

def _gt_ground(camera: str, h: np.ndarray) -> dict[tuple[int, int], np.ndarray]:
    gt = np.loadtxt(EPFL / camera / "gt.txt", delimiter=",")
    xyxy = np.c_[gt[:, 2], gt[:, 3], gt[:, 2] + gt[:, 4], gt[:, 3] + gt[:, 5]]
    ground = image_to_ground(h, foot_points_xyxy(xyxy))
    keep = feet_visible(xyxy, (EPFL_WH[1], EPFL_WH[0]), margin_px=2)
    return {(int(f), int(i)): g for f, i, g, k in zip(gt[:, 0], gt[:, 1], ground, keep) if k}


def test_epfl_ground_truth_positions_agree_across_cameras(tmp_path: Path) -> None:
    cals = {n: c.for_image(EPFL_WH) for n, c in load_calibration(EPFL / "calibration.yaml").items()}
    pos = {n: _gt_ground(n, c.image_to_ground) for n, c in cals.items()}
    common = sorted(set(pos["c0"]) & set(pos["c1"]))
    assert len(common) > 1000
    gap_m = np.array([np.linalg.norm(pos["c0"][k] - pos["c1"][k]) for k in common])
    # one person seen by both cameras lands on the same spot: half a metre typical (loose interpolated boxes)
    assert np.median(gap_m) < 0.8 and np.percentile(gap_m, 90) < 1.5
    tracks: dict[int, list[np.ndarray]] = {}
    for (_frame, gid), xy in sorted(pos["c0"].items()):
        tracks.setdefault(gid, []).append(xy)
    picture = render_ground_map({g: np.array(t) for g, t in tracks.items()},
                                {n: (c.image_to_ground, EPFL_WH) for n, c in cals.items()}, size_px=600)
    assert picture.ndim == 3 and max(picture.shape[:2]) >= 600
    assert len(np.unique(picture.reshape(-1, 3), axis=0)) > 50  # coloured tracks, polygons, grid drawn

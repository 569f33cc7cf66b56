"""``mctrack calibrate``: fit a camera's image->ground homography to point pairs, report its error, save it, and
draw a check picture."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from tracker.config import ConfigError
from tracker.config.calibration import CameraCalibration, load_calibration, update_calibration
from tracker.config.calibration_points import read_metropolis_points, read_point_pairs_csv
from tracker.core.geometry import PointPairs, image_to_ground
from tracker.models.calibration_fit import CalibrationFitError, HomographyFit, fit_homography
from tracker.offline.ground_map import draw_calibration_check

__all__ = ["register", "run"]

_DESCRIPTION = """\
Fit the homography that maps a person's foot point in CAMERA's pixels to the ground in metres, from four or more
points you can see on a frame and have measured on the floor (tile corners, markings, tape crosses): spread them
over the floor the camera sees, no three on a line; with six or more the fit is robust (RANSAC) and ignores a badly
measured point. Prints each point's error in metres, writes (or updates) CAMERA's entry in the calibration file
(other cameras in it are kept; YAML comments in it are NOT kept), and with --check draws the points and a 1 m
ground grid over the frame.

--points CSV: a header line naming u_px,v_px,x_m,y_m (optionally label), then one line per point: the pixel
(u right, v down, from the top-left corner) and the floor position in metres, e.g.
    label,u_px,v_px,x_m,y_m
    door,412,633,0.0,0.0
--metropolis calibration.json: the imageCoordinates/globalCoordinates of a sensor in an NVIDIA Metropolis
(VSS) calibration file (a 'cartesian' calibration in metres); --sensor ID picks the sensor."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "calibrate", help="fit a camera's image->ground homography from measured points; write calibration.yaml",
        description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--camera", required=True, metavar="NAME",
                        help="the camera's name (as in the site config / replay --camera NAME=...)")
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--points", metavar="CSV", help="point pairs: u_px,v_px,x_m,y_m with a header line")
    src.add_argument("--metropolis", metavar="JSON", help="an NVIDIA Metropolis calibration.json")
    parser.add_argument("--sensor", metavar="ID",
                        help="with --metropolis: the sensor id (default: the file's only sensor)")
    parser.add_argument("--out", required=True, metavar="YAML",
                        help="calibration file to write or update (its other cameras are kept, comments are not)")
    frame = parser.add_mutually_exclusive_group()
    frame.add_argument("--image", metavar="PNG", help="a frame of the camera: checks the fit against the frame "
                                                      "and records its size")
    frame.add_argument("--video", metavar="FILE", help="the camera's video: its first frame is used like --image")
    parser.add_argument("--check", metavar="PNG",
                        help="write the check picture (needs --image or --video): points and a 1 m grid")
    parser.add_argument("--method", choices=["auto", "lsq", "ransac", "lmeds"], default="auto",
                        help="fit method: auto = least squares below 6 points, RANSAC from 6 (default auto)")
    parser.add_argument("--ransac-threshold-m", type=float, default=0.5, metavar="M",
                        help="RANSAC: a point farther than this from its fitted position is an outlier (default 0.5)")
    parser.set_defaults(func=run)


def _error(message: str) -> int:
    print(f"mctrack calibrate: error: {message}", file=sys.stderr)
    return 2


def _read_frame(args: argparse.Namespace) -> np.ndarray | None:
    if args.image:
        if not Path(args.image).is_file():
            raise ConfigError(f"image '{args.image}' does not exist; pass a frame of camera '{args.camera}'")
        img = cv2.imread(args.image, cv2.IMREAD_COLOR)
        if img is None:
            raise ConfigError(f"image '{args.image}' cannot be read as a picture; pass a PNG or JPEG frame")
        return np.asarray(img)
    if args.video:
        if not Path(args.video).is_file():
            raise ConfigError(f"video '{args.video}' does not exist; pass the camera's video file")
        cap = cv2.VideoCapture(args.video)
        try:
            ok, img = cap.read()
        finally:
            cap.release()
        if not ok or img is None:
            raise ConfigError(f"video '{args.video}' gives no frame; pass a readable video or a frame with --image")
        return np.asarray(img)
    return None


def _read_points(args: argparse.Namespace) -> tuple[PointPairs, tuple[int, int] | None]:
    if args.points:
        if args.sensor:
            raise ConfigError("--sensor only applies to --metropolis")
        return read_point_pairs_csv(args.points), None
    sensor = read_metropolis_points(args.metropolis, args.sensor)
    return sensor.points, sensor.image_size


def _report(camera: str, points: PointPairs, fit: HomographyFit) -> None:
    projected = image_to_ground(fit.image_to_ground, points.image_uv)
    print(f"camera {camera}: {fit.method} fit on {int(fit.inliers.sum())} of {len(points)} points "
          f"({points.source})")
    print(f"{'point':>8} {'u_px':>8} {'v_px':>8} {'x_m':>9} {'y_m':>9} {'fit_x_m':>9} {'fit_y_m':>9} "
          f"{'error_m':>8}")
    for label, uv, xy, fxy, err, inl in zip(points.labels, points.image_uv, points.ground_xy, projected,
                                            fit.errors_m, fit.inliers):
        note = "" if inl else "  outlier (not used)"
        print(f"{label:>8} {uv[0]:8.1f} {uv[1]:8.1f} {xy[0]:9.3f} {xy[1]:9.3f} {fxy[0]:9.3f} {fxy[1]:9.3f} "
              f"{err:8.3f}{note}")
    print(f"error: median {fit.median_error_m:.3f} m, max {fit.max_error_m:.3f} m")


def _encode_check(path: str, picture: np.ndarray) -> bytes:
    """The picture encoded for ``path``'s extension (before anything is written, so a bad name writes nothing)."""
    ext = Path(path).suffix.lower() or ".png"
    try:
        ok, buf = cv2.imencode(ext, picture)
    except cv2.error:
        ok = False
    if not ok:
        raise ConfigError(f"--check '{path}': cannot write a picture with extension '{ext}'; use .png or .jpg")
    return bytes(buf.tobytes())


def run(args: argparse.Namespace) -> int:
    if args.check and not (args.image or args.video):
        return _error("--check needs the camera's frame: add --image FRAME.png or --video FILE")
    try:
        points, size_from_file = _read_points(args)
        frame = _read_frame(args)
        if Path(args.out).exists():
            load_calibration(args.out)  # a broken file is reported now, before anything is written
        fit = fit_homography(points, method=args.method, ransac_threshold_m=args.ransac_threshold_m)
        image_wh = (int(frame.shape[1]), int(frame.shape[0])) if frame is not None else size_from_file
        calibration = CameraCalibration(args.camera, fit.image_to_ground)
        if image_wh is not None:
            calibration = calibration.for_image(image_wh, source=f"fit of {points.source}")
        check_png = _encode_check(args.check, draw_calibration_check(frame, calibration.image_to_ground, points)) \
            if args.check and frame is not None else None
    except (ConfigError, CalibrationFitError) as exc:
        return _error(str(exc))
    _report(args.camera, points, fit)
    try:
        update_calibration(args.out, calibration)
        print(f"wrote camera '{args.camera}' to {args.out}")
        if check_png is not None:
            Path(args.check).parent.mkdir(parents=True, exist_ok=True)
            Path(args.check).write_bytes(check_png)
            print(f"wrote check picture {args.check}")
    except (ConfigError, OSError) as exc:
        return _error(str(exc))
    return 0

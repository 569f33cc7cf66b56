"""The calibration file: per camera, the image->ground homography (and optionally the image size it was made for).

Format (YAML, shared with the evaluation data sets, e.g. ``data/epfl-terrace1-dev/calibration.yaml``)::

    units: metres                 # optional; when present it must say metres
    cameras:
      c0:
        image_to_ground:          # 3x3, row-major: [X, Y, W] = H @ [u, v, 1], ground = (X/W, Y/W) metres
        - [-0.0971, -0.4046, 54.76]
        - [0.0698, -0.6257, 50.54]
        - [0.000947, -0.0487, 1.0]
        image_size: [360, 288]    # optional [width, height] in pixels

Any other top-level keys (notes, ``ground_plane`` ...) are kept when the file is updated. Every problem raises
:class:`ConfigError` naming the file, the camera and the fix.
"""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from tracker.config.errors import ConfigError
from tracker.core.geometry import homography_problems, horizon_problems, orient_homography

__all__ = [
    "CameraCalibration",
    "calibration_from_mapping",
    "load_calibration",
    "read_calibration_file",
    "save_calibration",
    "update_calibration",
]

logger = logging.getLogger(__name__)

_CAMERA_KEYS = ("image_to_ground", "image_size")
_METRES = ("metres", "meters", "metre", "meter", "m")
_FIX = "recompute it with `mctrack calibrate` (see README) or fix the numbers"

PathLike = str | os.PathLike[str]


@dataclass(frozen=True, eq=False)
class CameraCalibration:
    """One camera's ground-plane calibration.

    Attributes:
        name: the camera's name (as in the site config's ``cameras[].name`` / replay's ``--camera NAME=...``).
        image_to_ground: (3, 3) float64 homography, foot point in pixels -> ground point in metres, oriented so
            that ``W > 0`` in front of the camera (see :mod:`tracker.core.geometry`).
        image_size: (width, height) in pixels the homography was made for, when known.
    """

    name: str
    image_to_ground: np.ndarray
    image_size: tuple[int, int] | None = None

    def for_image(self, image_wh: tuple[int, int], source: str = "calibration") -> CameraCalibration:
        """This calibration checked against the camera's real frame size (call at the first frame).

        Raises:
            ConfigError: the frame size differs from ``image_size``, or the lower half of the frame reaches the
                horizon.
        """
        wh = (int(image_wh[0]), int(image_wh[1]))
        if self.image_size is not None and self.image_size != wh:
            raise ConfigError(
                f"{source}: camera '{self.name}': calibration made for {self.image_size[0]}x{self.image_size[1]} "
                f"images but the camera delivers {wh[0]}x{wh[1]}; recalibrate at this resolution "
                f"(`mctrack calibrate --image ...`) or set the camera back to {self.image_size[0]}x"
                f"{self.image_size[1]}")
        _check_horizon(self.name, self.image_to_ground, wh, source)
        return CameraCalibration(self.name, orient_homography(self.image_to_ground, wh), wh)

    def to_mapping(self) -> dict[str, Any]:
        """Plain data for YAML: ``{"image_to_ground": [[...] x3], "image_size": [w, h]}`` (size only when known)."""
        out: dict[str, Any] = {"image_to_ground": [[float(v) for v in row] for row in self.image_to_ground]}
        if self.image_size is not None:
            out["image_size"] = [int(self.image_size[0]), int(self.image_size[1])]
        return out


def _camera_error(source: str, name: str, what: str, fix: str = _FIX) -> ConfigError:
    return ConfigError(f"{source}: camera '{name}': {what}; {fix}")


def _number(value: Any, source: str, name: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _camera_error(source, name, f"{where} is {value!r}, not a number",
                            "write plain numbers (e.g. 0.0534 or -1.2e-3), no quotes or units")
    return float(value)


def _matrix(value: Any, source: str, name: str) -> np.ndarray:
    rows: list[Any]
    if isinstance(value, list) and len(value) == 9 and not any(isinstance(v, list) for v in value):
        rows = [value[0:3], value[3:6], value[6:9]]  # nine numbers, row-major
    elif isinstance(value, list) and len(value) == 3 and all(isinstance(r, list) and len(r) == 3 for r in value):
        rows = value
    else:
        shape = (f"{len(value)} rows of lengths {[len(r) if isinstance(r, list) else 1 for r in value]}"
                 if isinstance(value, list) else type(value).__name__)
        raise _camera_error(source, name, f"image_to_ground must be a 3x3 matrix (3 rows of 3 numbers), got {shape}",
                            "write it as three rows [h11, h12, h13], [h21, h22, h23], [h31, h32, h33] "
                            "(row-major, image pixels -> ground metres)")
    return np.array([[_number(v, source, name, f"image_to_ground[{i}][{j}]") for j, v in enumerate(row)]
                     for i, row in enumerate(rows)], dtype=np.float64)


def _image_size(value: Any, source: str, name: str) -> tuple[int, int]:
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
        raise _camera_error(source, name, f"image_size is {value!r}",
                            "write [width, height] in pixels, two positive integers, e.g. [1920, 1080]")
    return int(value[0]), int(value[1])


def _check_horizon(name: str, h: np.ndarray, image_wh: tuple[int, int], source: str) -> None:
    problems = horizon_problems(h, image_wh)
    if problems:
        raise _camera_error(source, name, f"image_to_ground {problems[0]}",
                            "check that the matrix maps this camera's image pixels to ground metres (image->ground, "
                            "not ground->image; written row by row) and that image_size is right; " + _FIX)


def calibration_from_mapping(name: str, mapping: Any, source: str) -> CameraCalibration:
    """Validate one camera's calibration given as plain data (a file's ``cameras.NAME`` or a site config's
    inline ``cameras[].calibration``) and return it oriented (``W > 0`` in front of the camera).

    Args:
        name: the camera's name, for messages and the result.
        mapping: ``{"image_to_ground": 3x3 (or 9 numbers, row-major), "image_size": [w, h] (optional)}``.
        source: where it came from, for messages (a file path, or e.g. "config.yaml cameras[1].calibration").
    Raises:
        ConfigError: missing or unknown keys, wrong shape, non-numeric or non-finite values, a singular matrix,
            or (with image_size) a horizon inside the image's lower half.
    """
    if not isinstance(mapping, Mapping):
        raise _camera_error(source, name, f"expected a mapping with image_to_ground, got {type(mapping).__name__}",
                            "write `image_to_ground: [[...], [...], [...]]` under the camera")
    for key in mapping:
        if key not in _CAMERA_KEYS:
            close = difflib.get_close_matches(str(key), _CAMERA_KEYS, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise _camera_error(source, name, f"unknown key '{key}'{hint}",
                                f"allowed keys: {', '.join(_CAMERA_KEYS)}")
    if "image_to_ground" not in mapping:
        raise _camera_error(source, name, "image_to_ground is missing",
                            "add the 3x3 image->ground homography (compute it with `mctrack calibrate`)")
    h = _matrix(mapping["image_to_ground"], source, name)
    problems = homography_problems(h)
    if problems:
        raise _camera_error(source, name, f"image_to_ground {problems[0]}", _FIX)
    size = _image_size(mapping["image_size"], source, name) if mapping.get("image_size") is not None else None
    if size is not None:
        _check_horizon(name, h, size, source)
    return CameraCalibration(name=str(name), image_to_ground=orient_homography(h, size), image_size=size)


def read_calibration_file(path: PathLike) -> dict[str, Any]:
    """The file's raw YAML mapping (checked to be a mapping with a ``cameras`` mapping); for updates that keep
    its other keys. Raises ConfigError for a missing, unreadable or malformed file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"calibration file '{p}' does not exist; pass an existing YAML file "
                          f"(make one with `mctrack calibrate`)")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"calibration file '{p}' cannot be read as YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("cameras"), dict):
        raise ConfigError(f"calibration file '{p}': expected a mapping with `cameras: {{NAME: {{image_to_ground: "
                          f"...}}}}`; see data/*/calibration.yaml for an example")
    units = data.get("units")
    if units is not None and str(units).strip().lower() not in _METRES:
        raise ConfigError(f"calibration file '{p}': units is {units!r}, but ground points must be in metres; "
                          f"rescale the homography's first two rows to metres and write `units: metres`")
    return data


def load_calibration(path: PathLike, cameras: Iterable[str] | None = None) -> dict[str, CameraCalibration]:
    """Load and validate a calibration file.

    Args:
        path: the YAML file.
        cameras: the names of the cameras in use; when given, a camera in the file that is not among them is an
            error (a typo would otherwise silently leave a camera uncalibrated). Cameras without an entry are
            fine: calibration is optional per camera.
    Returns:
        camera name -> :class:`CameraCalibration`, in file order.
    Raises:
        ConfigError: naming the file, the camera and the fix.
    """
    source = str(path)
    data = read_calibration_file(path)
    known = list(cameras) if cameras is not None else None
    out: dict[str, CameraCalibration] = {}
    for name, mapping in data["cameras"].items():
        cam = str(name)
        if known is not None and cam not in known:
            close = difflib.get_close_matches(cam, known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise _camera_error(source, cam, f"no such camera{hint}",
                                f"the cameras are {', '.join(known) or '(none)'}; rename or remove the entry")
        out[cam] = calibration_from_mapping(cam, mapping, source)
    logger.debug("loaded calibration for %s from %s", ", ".join(out) or "no camera", source)
    return out


_HEADER = ("# Image -> ground-plane homography per camera (3x3, row-major): [X, Y, W] = H @ [u, v, 1], ground = "
           "(X/W, Y/W)\n# in metres, for the bottom-centre (u, v) of a person's box in that camera's pixels. "
           "Written by mctrack.\n")


def save_calibration(path: PathLike, calibrations: Mapping[str, CameraCalibration],
                     extra: Mapping[str, Any] | None = None) -> None:
    """Write a calibration file (atomically: a temporary file renamed over ``path``).

    Args:
        path: the YAML file to write.
        calibrations: camera name -> calibration, written in this order.
        extra: other top-level keys to keep (notes, ``ground_plane``); ``units`` is always ``metres``.
    """
    data: dict[str, Any] = {k: v for k, v in (extra or {}).items() if k not in ("cameras", "units")}
    data = {"units": "metres", **data,
            "cameras": {name: cal.to_mapping() for name, cal in calibrations.items()}}
    text = _HEADER + yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=120)
    p = Path(path)
    if p.parent != Path(""):
        p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, p)


def update_calibration(path: PathLike, calibration: CameraCalibration) -> dict[str, CameraCalibration]:
    """Add or replace one camera's entry in ``path`` (created when missing), keeping the other cameras and the
    file's other top-level keys; YAML comments are not kept. The existing file is validated first, so a broken
    file is reported and left untouched.

    Returns:
        all calibrations now in the file.
    """
    p = Path(path)
    extra: dict[str, Any] = {}
    cals: dict[str, CameraCalibration] = {}
    if p.exists():
        extra = read_calibration_file(p)
        cals = load_calibration(p)
    cals[calibration.name] = calibration
    save_calibration(p, cals, extra)
    return cals

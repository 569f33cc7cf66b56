"""Image <-> ground point pairs for ``mctrack calibrate``: a hand-made CSV or an NVIDIA Metropolis calibration.json.

CSV: a header row naming at least the columns ``u_px,v_px,x_m,y_m`` (any order; an optional ``label`` column names
the points), then one row per point: the pixel (u right, v down) clicked on a frame and the measured floor position
in metres. Blank lines and lines starting with ``#`` are skipped.

Metropolis ``calibration.json`` (VSS / Metropolis Microservices calibration schema): ``sensors[]`` with ``id``,
``imageCoordinates: [{"x": u, "y": v}, ...]`` and ``globalCoordinates: [{"x": x, "y": y}, ...]`` (metres for a
``cartesian`` calibration), and optional ``attributes`` ``frameWidth`` / ``frameHeight``.
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np

from tracker.config.errors import ConfigError
from tracker.core.geometry import PointPairs

__all__ = ["MIN_POINTS", "SensorPoints", "read_point_pairs_csv", "read_metropolis_points"]

MIN_POINTS = 4
_CSV_COLUMNS = ("u_px", "v_px", "x_m", "y_m")


def _read_text(path: Path, what: str) -> str:
    if not path.is_file():
        raise ConfigError(f"{what} '{path}' does not exist; check the path")
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{what} '{path}' cannot be read: {exc}") from None


def _too_few(source: Path, count: int) -> ConfigError:
    return ConfigError(f"{source}: {count} point pair(s), a homography needs at least {MIN_POINTS}; add points "
                       f"spread over the floor the camera sees (no three on a line; 6 or more allow a robust fit)")


def read_point_pairs_csv(path: str | os.PathLike[str]) -> PointPairs:
    """Read ``u_px,v_px,x_m,y_m`` rows (with a header) into :class:`PointPairs`.

    Raises:
        ConfigError: missing file or columns, a value that is not a finite number, fewer than four points.
    """
    p = Path(path)
    text = _read_text(p, "point file")
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1)
             if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise _too_few(p, 0)
    reader = csv.reader([line for _, line in lines], skipinitialspace=True)
    header = [h.strip().lower() for h in next(reader)]
    missing = [c for c in _CSV_COLUMNS if c not in header]
    if missing:
        raise ConfigError(f"{p}: line {lines[0][0]}: the header must name the columns {','.join(_CSV_COLUMNS)} "
                          f"(missing {', '.join(missing)}; got {','.join(header)}); write it as the first line")
    cols = [header.index(c) for c in _CSV_COLUMNS]
    label_col = header.index("label") if "label" in header else None
    uv: list[tuple[float, float]] = []
    xy: list[tuple[float, float]] = []
    labels: list[str] = []
    for (line_no, _), row in zip(lines[1:], reader):
        if len(row) < len(header):
            raise ConfigError(f"{p}: line {line_no}: {len(row)} value(s), expected {len(header)} "
                              f"({','.join(header)})")
        values: list[float] = []
        for name, col in zip(_CSV_COLUMNS, cols):
            raw = row[col].strip()
            try:
                value = float(raw)
            except ValueError:
                value = math.nan
            if not math.isfinite(value):
                raise ConfigError(f"{p}: line {line_no}: {name} is {raw!r}, not a number; write plain numbers "
                                  f"(pixels for u_px/v_px, metres for x_m/y_m, '.' as decimal point)")
            values.append(value)
        uv.append((values[0], values[1]))
        xy.append((values[2], values[3]))
        labels.append(row[label_col].strip() if label_col is not None else str(len(labels) + 1))
    if len(uv) < MIN_POINTS:
        raise _too_few(p, len(uv))
    return PointPairs(image_uv=np.array(uv).reshape(-1, 2), ground_xy=np.array(xy).reshape(-1, 2),
                      labels=tuple(labels), source=str(p))


@dataclass(frozen=True)
class SensorPoints:
    """One Metropolis sensor's point pairs, and its frame size (width, height) when the file gives it."""

    sensor_id: str
    points: PointPairs
    image_size: tuple[int, int] | None


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _xy(item: Any, key: str, i: int, source: Path, sensor: str) -> tuple[float, float]:
    if isinstance(item, dict):
        x, y = item.get("x"), item.get("y")
        if _is_number(x) and _is_number(y):
            return float(x), float(y)
    raise ConfigError(f"{source}: sensor '{sensor}': {key}[{i}] is {item!r}; expected {{\"x\": number, "
                      f"\"y\": number}}")


def _frame_size(sensor: dict[str, Any]) -> tuple[int, int] | None:
    attrs = {str(a.get("name")): str(a.get("value")) for a in sensor.get("attributes") or [] if isinstance(a, dict)}
    try:
        w, h = int(float(attrs["frameWidth"])), int(float(attrs["frameHeight"]))
    except (KeyError, TypeError, ValueError):
        return None
    return (w, h) if w > 0 and h > 0 else None


def read_metropolis_points(path: str | os.PathLike[str], sensor_id: str | None = None) -> SensorPoints:
    """Read one sensor's ``imageCoordinates`` / ``globalCoordinates`` from a Metropolis ``calibration.json``.

    Args:
        path: the JSON file.
        sensor_id: the sensor's ``id``; may be omitted when the file holds exactly one sensor.
    Raises:
        ConfigError: unreadable JSON, no or unknown sensor, a geo (latitude/longitude) calibration, mismatched or
            malformed coordinates, fewer than four points.
    """
    p = Path(path)
    try:
        data = json.loads(_read_text(p, "Metropolis calibration file"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{p}: not valid JSON ({exc}); pass the calibration.json exported by the Metropolis "
                          f"calibration toolkit") from None
    sensors = data.get("sensors") if isinstance(data, dict) else None
    if not isinstance(sensors, list) or not sensors:
        raise ConfigError(f"{p}: no `sensors` list; pass the calibration.json exported by the Metropolis "
                          f"calibration toolkit")
    kind = data.get("calibrationType")
    if kind == "geo":
        raise ConfigError(f"{p}: calibrationType is 'geo' (latitude/longitude), but ground points must be metres; "
                          f"export a 'cartesian' calibration, or convert the global coordinates to a local metric "
                          f"frame and use --points")
    ids = [str(s.get("id")) for s in sensors if isinstance(s, dict)]
    if sensor_id is None:
        if len(ids) != 1:
            raise ConfigError(f"{p}: {len(ids)} sensors ({', '.join(ids)}); choose one with --sensor ID")
        sensor_id = ids[0]
    if sensor_id not in ids:
        raise ConfigError(f"{p}: no sensor with id '{sensor_id}'; the sensors are {', '.join(ids)} "
                          f"(choose one with --sensor ID)")
    sensor = next(s for s in sensors if isinstance(s, dict) and str(s.get("id")) == sensor_id)
    image = sensor.get("imageCoordinates") or []
    ground = sensor.get("globalCoordinates") or []
    if not isinstance(image, list) or not isinstance(ground, list) or len(image) != len(ground):
        raise ConfigError(f"{p}: sensor '{sensor_id}': imageCoordinates and globalCoordinates must be lists of the "
                          f"same length (one ground point per image point)")
    uv = [_xy(item, "imageCoordinates", i, p, sensor_id) for i, item in enumerate(image)]
    xy = [_xy(item, "globalCoordinates", i, p, sensor_id) for i, item in enumerate(ground)]
    if len(uv) < MIN_POINTS:
        raise _too_few(p, len(uv))
    points = PointPairs(image_uv=np.array(uv).reshape(-1, 2), ground_xy=np.array(xy).reshape(-1, 2),
                        labels=tuple(str(i + 1) for i in range(len(uv))), source=f"{p} sensor {sensor_id}")
    return SensorPoints(sensor_id=sensor_id, points=points, image_size=_frame_size(sensor))

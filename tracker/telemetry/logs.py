"""Logging set-up: one logger per module, camera id on every line, credentials redacted everywhere."""

from __future__ import annotations

import logging

from streams.redact import redact

__all__ = ["setup_logging", "set_camera_id", "RedactingFormatter", "ULTRALYTICS_LOGGER", "adopt_library_logger"]

_camera_id = "-"
ULTRALYTICS_LOGGER = "ultralytics"


def set_camera_id(camera_id: str) -> None:
    """Tag every following log line of this process with the camera id (one worker process per camera)."""
    global _camera_id
    _camera_id = camera_id


class _CameraFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "camera"):
            record.camera = _camera_id
        return True


class _MctrackHandler(logging.StreamHandler):
    """The stderr handler :func:`setup_logging` installs; a second call replaces it (found by ``_mctrack``, which
    survives a reload of this module)."""

    _mctrack = True


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def setup_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    handler = _MctrackHandler()
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s [%(camera)s] %(name)s: %(message)s"))
    handler.addFilter(_CameraFilter())
    for h in list(root.handlers):
        if getattr(h, "_mctrack", False):
            root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in (ULTRALYTICS_LOGGER, "urllib3", "PIL", "matplotlib"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def adopt_library_logger(name: str = ULTRALYTICS_LOGGER) -> None:
    """Make a library logger that prints on its own (Ultralytics: a stdout handler, level INFO, set when it is
    imported) go through mctrack's logging instead: its own handlers removed, records propagated to the root handler
    (stderr, redacted), level at least WARNING. Call after importing the library. Keeps ``--json`` output on stdout
    pure JSON."""
    lib = logging.getLogger(name)
    for handler in list(lib.handlers):
        lib.removeHandler(handler)
    lib.propagate = True
    lib.setLevel(max(logging.WARNING, logging.getLogger().level))

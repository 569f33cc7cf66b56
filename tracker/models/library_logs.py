"""Model libraries that print on their own (Ultralytics) are routed through the process's logging."""

from __future__ import annotations

import logging

__all__ = ["ULTRALYTICS_LOGGER", "adopt_library_logger"]

ULTRALYTICS_LOGGER = "ultralytics"


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

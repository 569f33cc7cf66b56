"""Reconnect delays: exponential backoff with jitter."""

from __future__ import annotations

import random

__all__ = ["backoff_delay_s"]

_MAX_DOUBLINGS = 60  # beyond this 2**n overflows nothing useful; the cap applies long before


def backoff_delay_s(attempt: int, initial_s: float, max_s: float, jitter: float, rng: random.Random) -> float:
    """Delay before reconnect attempt ``attempt`` (0-based).

    ``initial_s * 2**attempt`` capped at ``max_s``, then scaled by a random factor in ``[1 - jitter, 1 + jitter]``
    (so many cameras that lost the same server do not reconnect in lock-step). Never negative.
    """
    if attempt < 0:
        raise ValueError(f"attempt = {attempt}: must be >= 0")
    base_s = min(max_s, initial_s * 2.0 ** min(attempt, _MAX_DOUBLINGS))
    return max(0.0, base_s * (1.0 + rng.uniform(-jitter, jitter)))

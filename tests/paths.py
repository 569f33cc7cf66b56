"""Where the tests find the repository and ../shared (models and dev data); MCTRACK_SHARED overrides the latter."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MCTRACK_SHARED", REPO.parent / "shared"))
MODELS = SHARED / "models"
DATA = SHARED / "data"
DEV = DATA / "pets-s2l1-dev"
EPFL = DATA / "epfl-terrace1-dev"

"""A Re-ID model's own similarity scale: appearance thresholds in units that mean the same for every model.

Models differ in where their cosine similarities lie: different people score about 0.5 with OSNet-x0.25 (MSMT17)
and about 0.16 with Intel's person-reidentification-retail-0277, the same person about 0.76 and 0.67. A threshold
in cosine therefore fits only the model it was set for. Thresholds are instead given as a *standardised
similarity*

    u = (cosine - diff_cosine) / (same_cosine - diff_cosine)

where ``diff_cosine`` is the model's median cosine of two different people seen in the same frame of one camera and
``same_cosine`` its median cosine of one person's crops 1-5 s apart: u = 0 is a typical pair of different people,
u = 1 a typical pair of crops of one person. Both are measured without ground truth (people seen together are
different; one track over seconds is one person), so a new model needs no hand-set numbers, only its statistics.

The hub compares track means after subtracting each camera's mean embedding (``CameraNormalizer``). Centring
moves a typical different-person pair to about 0 and a same-person pair to about
``(same_cosine - diff_cosine) / (1 - diff_cosine)`` (the camera mean's squared length is about ``diff_cosine``);
so in the hub's centred space u maps to ``u * (same_cosine - diff_cosine) / (1 - diff_cosine)``. Measured on the
dev sets (docs/reid.md), the median same-person centred similarity of track means is within 0.1 of that value for
all three models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["AppearanceScale", "KNOWN_SCALES", "REFERENCE_SCALE"]


@dataclass(frozen=True)
class AppearanceScale:
    """A model's typical cosine similarities (single L2-normalised embeddings, one camera).

    same_cosine: median cosine of one person's embeddings 1-5 s apart. diff_cosine: median cosine of two people
    seen in the same frame. diff_p95_cosine: 95th percentile of the latter (None: unknown), which floors the
    hub's match threshold (:meth:`match_floor`). source: where the figures come from (for logs).
    """

    same_cosine: float
    diff_cosine: float
    diff_p95_cosine: float | None = None
    source: str = ""

    def __post_init__(self) -> None:
        if not -1.0 <= self.diff_cosine < self.same_cosine <= 1.0:
            raise ValueError(f"appearance scale needs -1 <= diff_cosine < same_cosine <= 1, got diff "
                             f"{self.diff_cosine} and same {self.same_cosine}")
        if self.diff_p95_cosine is not None and not self.diff_cosine <= self.diff_p95_cosine <= 1.0:
            raise ValueError(f"appearance scale needs diff_cosine <= diff_p95_cosine <= 1, got "
                             f"{self.diff_p95_cosine}")

    def match_floor(self) -> float:
        """Least standardised similarity for joining two tracks: that of the model's 95th-percentile
        different-person pair (a model whose different people spread widely needs a stricter threshold), or -inf
        when unknown."""
        return -math.inf if self.diff_p95_cosine is None else self.standardise(self.diff_p95_cosine)

    @property
    def span(self) -> float:
        """same_cosine - diff_cosine: one unit of standardised similarity in raw cosine."""
        return self.same_cosine - self.diff_cosine

    @property
    def centred_span(self) -> float:
        """One unit of standardised similarity in camera-mean-centred cosine."""
        return self.span / (1.0 - self.diff_cosine)

    def cosine(self, u: float) -> float:
        """Raw cosine similarity at standardised similarity ``u``."""
        return self.diff_cosine + u * self.span

    def centred_cosine(self, u: float) -> float:
        """Camera-mean-centred cosine similarity at standardised similarity ``u``."""
        return u * self.centred_span

    def standardise(self, cosine: float) -> float:
        """Standardised similarity of a raw cosine (the inverse of :meth:`cosine`)."""
        return (cosine - self.diff_cosine) / self.span


#: Measured scales of the models this project ships configs for (benchmarks/reid_model_stats.py: medians over the
#: pets-s2l1-dev two-cam and epfl-terrace1-dev cameras, ground-truth crops; docs/reid.md), keyed by model id (the
#: weights file's or IR's stem).
KNOWN_SCALES: dict[str, AppearanceScale] = {
    "osnet_x0_25_msmt17": AppearanceScale(same_cosine=0.76, diff_cosine=0.50, diff_p95_cosine=0.68,
                                          source="measured (docs/reid.md)"),
    "person-reidentification-retail-0277": AppearanceScale(same_cosine=0.67, diff_cosine=0.16, diff_p95_cosine=0.38,
                                                           source="measured (docs/reid.md)"),
    "person-reidentification-retail-0287": AppearanceScale(same_cosine=0.65, diff_cosine=0.15, diff_p95_cosine=0.39,
                                                           source="measured (docs/reid.md)"),
}
#: The scale the parameter dataclasses' cosine defaults were set for (``TrackerParams``, ``IdentityParams``).
REFERENCE_SCALE = KNOWN_SCALES["osnet_x0_25_msmt17"]

"""The Re-ID path choice as pure functions: which (engine, precision, threads) paths to try on this CPU, how far a
path's embeddings may drift from f32, and which measured path wins.

Nothing here loads a model or times anything (tracker.models.reid.autoselect does): given the CPU's features and
each path's measured per-crop time and agreement with the f32 reference, the decision is reproducible and unit-tested.

The accuracy bound (:class:`AccuracyBound`): cosine between a path's and the f32 reference's embedding of the same
real person crop, median >= 0.99 and 5th percentile >= 0.97. Why these numbers: with OSNet-x0.25 (MSMT17) the same
person seen again scores about 0.94 and different people about 0.49 (MANIFEST of ../shared/models), so a drift of
0.01 at the median and 0.03 at the 5th percentile is 2% and 7% of that gap, below the frame-to-frame spread of one
person's own embeddings. Measured (benchmarks/reid_paths_bench.py, PETS crops): OpenVINO bf16 0.9992 / 0.9985
for OSNet, 0.9997 / 0.9991 and 0.9995 / 0.9990 for the OMZ 0277 / 0287 IRs (pass); int8 calibrated on EPFL crops
0.93-0.98 / 0.83-0.92 (refused), though calibrated and checked on PETS crops ONNX Runtime int8 gave 0.994 / 0.987:
int8 is only as good as its calibration crops' match with the cameras, hence ``reid.auto_int8``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from tracker.models.cpu_features import CpuFeatures

__all__ = ["ReidPath", "AccuracyBound", "Agreement", "PathTrial", "ReidChoice", "candidate_paths",
           "embedding_agreement", "choose_path", "PRECISIONS"]

PRECISIONS: tuple[str, ...] = ("f32", "bf16", "int8")
#: Engines the automatic choice considers (torch is far slower on CPU: 22 ms against 3.8 for one crop).
AUTO_ENGINES: tuple[str, ...] = ("onnxruntime", "openvino")
#: Precisions each engine can run on a CPU (ONNX Runtime's CPU provider has no bf16 kernels).
ENGINE_PRECISIONS: dict[str, tuple[str, ...]] = {"onnxruntime": ("f32", "int8"), "openvino": ("f32", "bf16", "int8"),
                                                 "torch": ("f32",)}


@dataclass(frozen=True)
class ReidPath:
    """One way to run the Re-ID network: engine (onnxruntime, openvino, torch), precision (f32, bf16, int8) and
    intra-op threads (0 = the library's default)."""

    engine: str
    precision: str
    threads: int

    @property
    def label(self) -> str:
        return f"{self.engine}/{self.precision}/{self.threads or 'default'}t"


@dataclass(frozen=True)
class AccuracyBound:
    """How far a path's embeddings may drift from the f32 reference (cosine per crop); see the module docstring."""

    median_min: float = 0.99
    p05_min: float = 0.97


@dataclass(frozen=True)
class Agreement:
    """Cosine between a path's and the reference's embeddings of the same crops: median, 5th percentile, minimum,
    over ``crops`` crops."""

    median: float
    p05: float
    min: float
    crops: int

    def within(self, bound: AccuracyBound) -> bool:
        return self.crops > 0 and self.median >= bound.median_min and self.p05 >= bound.p05_min


@dataclass(frozen=True)
class PathTrial:
    """What was measured for one path: ms per crop (None when it could not be built or run: ``error`` says why) and
    its agreement with the f32 reference (None when not checked: no calibration crops)."""

    path: ReidPath
    ms_per_crop: float | None
    agreement: Agreement | None = None
    error: str = ""


@dataclass(frozen=True)
class ReidChoice:
    """The chosen path, why, and every trial behind it (empty when the config fixed the path)."""

    path: ReidPath
    reason: str
    bound: AccuracyBound
    trials: tuple[PathTrial, ...] = ()
    source: str = "config"  # config | measured | cache
    key: dict[str, str] = field(default_factory=dict)  # what the cached choice is valid for

    @property
    def agreement(self) -> Agreement | None:
        """The chosen path's agreement with f32 (None: not measured)."""
        return next((t.agreement for t in self.trials if t.path == self.path), None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(data: dict[str, Any]) -> ReidChoice:
        trials = tuple(PathTrial(path=ReidPath(**t["path"]), ms_per_crop=t["ms_per_crop"],
                                 agreement=Agreement(**t["agreement"]) if t["agreement"] else None,
                                 error=t["error"]) for t in data["trials"])
        return ReidChoice(path=ReidPath(**data["path"]), reason=data["reason"], bound=AccuracyBound(**data["bound"]),
                          trials=trials, source=data["source"], key=dict(data["key"]))


def candidate_paths(backend: str, precision: str, threads: int, cpu: CpuFeatures, engines: Sequence[str],
                    int8_engines: Sequence[str], have_crops: bool, auto_int8: bool = False) -> list[ReidPath]:
    """The paths worth measuring, the f32 reference first.

    Args:
        backend: ``reid.backend`` (``auto`` = every engine in :data:`AUTO_ENGINES` that is in ``engines``).
        precision: ``reid.precision`` (``auto`` = f32, plus bf16 on CPUs with bf16 hardware and, with
            ``auto_int8``, int8 on CPUs with int8 dot products, each only with calibration crops to check it
            against f32).
        threads: ``reid.num_threads``.
        engines: engines importable here; int8_engines: those that can quantise the model here.
        have_crops: real person crops are available (needed to quantise and to check reduced precision).
    Returns:
        the paths, f32 ones first (the first is the reference); an explicit precision an engine cannot run is left
        out (the caller reports an empty list as a config error).
    """
    chosen_engines = [e for e in AUTO_ENGINES if e in engines] if backend == "auto" else [backend]
    paths: list[ReidPath] = []
    for want in PRECISIONS:
        for engine in chosen_engines:
            if want not in ENGINE_PRECISIONS.get(engine, ("f32",)):
                continue
            if precision == "auto":
                useful = (want == "f32" or (want == "bf16" and cpu.bf16 and have_crops)
                          or (want == "int8" and auto_int8 and cpu.int8_dot and have_crops and engine in int8_engines))
            else:
                useful = want == precision and (want != "int8" or engine in int8_engines)
            if useful:
                paths.append(ReidPath(engine, want, threads))
    return paths


def embedding_agreement(reference: np.ndarray, features: np.ndarray) -> Agreement:
    """Per-crop cosine between two (N, D) feature arrays of the same crops (rows need not be normalised; rows
    that are zero in either are left out)."""
    ref = np.asarray(reference, dtype=np.float64)
    got = np.asarray(features, dtype=np.float64)
    if ref.shape != got.shape:
        raise ValueError(f"embedding_agreement: shapes differ, {ref.shape} vs {got.shape}")
    norms = np.linalg.norm(ref, axis=1) * np.linalg.norm(got, axis=1)
    keep = norms > 0
    if not keep.any():
        return Agreement(median=0.0, p05=0.0, min=0.0, crops=0)
    cos = np.sum(ref[keep] * got[keep], axis=1) / norms[keep]
    return Agreement(median=float(np.median(cos)), p05=float(np.percentile(cos, 5)), min=float(cos.min()),
                     crops=int(keep.sum()))


def _eligible(trial: PathTrial, bound: AccuracyBound) -> bool:
    if trial.ms_per_crop is None or trial.error:
        return False
    if trial.agreement is None:
        return trial.path.precision == "f32"  # same arithmetic as the reference; reduced precision must be checked
    return trial.agreement.within(bound)


def choose_path(trials: Sequence[PathTrial], reference: ReidPath, bound: AccuracyBound,
                min_speedup: float) -> ReidChoice:
    """The fastest path whose embeddings stay within ``bound`` of f32; the ``reference`` path unless another is at
    least ``min_speedup`` (a fraction) faster per crop, so that timing noise does not flip the choice (and the
    tracking output) between runs.

    Raises:
        ValueError: no trial is usable (the caller turns this into a config error with the trials' errors).
    """
    ok = [t for t in trials if _eligible(t, bound)]
    if not ok:
        why = "; ".join(f"{t.path.label}: {t.error or 'outside the accuracy bound'}" for t in trials)
        raise ValueError(f"no usable Re-ID path ({why or 'nothing to try'})")
    best = min(ok, key=lambda t: t.ms_per_crop or 0.0)
    ref = next((t for t in ok if t.path == reference), None)
    refused = [t.path.label for t in trials if t not in ok]
    tail = f"; refused: {', '.join(refused)}" if refused else ""
    if ref is None:
        reason = f"fastest usable path ({best.ms_per_crop:.2f} ms/crop); the reference {reference.label} is unusable"
        return ReidChoice(best.path, reason + tail, bound, tuple(trials), source="measured")
    ref_ms, best_ms = ref.ms_per_crop or 0.0, best.ms_per_crop or 0.0
    if best is ref or best_ms > ref_ms * (1.0 - min_speedup):
        reason = (f"reference path kept: {ref_ms:.2f} ms/crop; the fastest other usable path is not "
                  f"{min_speedup:.0%} faster") if best is not ref else f"fastest usable path ({ref_ms:.2f} ms/crop)"
        return ReidChoice(reference, reason + tail, bound, tuple(trials), source="measured")
    reason = f"{best_ms:.2f} ms/crop against {ref_ms:.2f} for {reference.label}"
    return ReidChoice(best.path, reason + tail, bound, tuple(trials), source="measured")

"""Person detector: a thin, low-overhead wrapper around an Ultralytics YOLO model.

``YOLO.predict()`` rebuilds an input "dataset", profilers and ``Results`` objects on every call and letterboxes
through torch. ``UltralyticsDetector.detect`` instead sets the predictor up once, letterboxes with OpenCV straight
into the network blob (same geometry and rounding as Ultralytics), then calls the Ultralytics backend and NMS
directly. ``predict_reference`` keeps the plain ``YOLO.predict()`` path; a test checks both give the same boxes and
``benchmarks/model_timing.py`` measures the difference.

With ``detector.input_shape: auto`` every frame is letterboxed into the smallest stride-multiple rectangle that holds
it (640x480 for a 4:3 camera). A very wide or tall frame keeps its short side at ``detector.wide_min_short_side``
of the model's size within the square input's pixel count (:func:`letterbox_size`). Fixed-size OpenVINO exports are
reshaped for that rectangle (``tracker.models.yolo_ir``), one compiled model per input size, swapped into the
Ultralytics backend.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import cv2
import numpy as np

from tracker.config import ConfigError, DetectorConfig
from tracker.core.detections import Detections
from tracker.core.protocols import PendingDetections
from tracker.models.yolo_ir import DETECT_STRIDES

__all__ = ["UltralyticsDetector", "DetectorInfo", "detector_streams", "resolve_detector_weights",
           "filter_min_size_xyxy", "letterbox_blob", "letterbox_size", "unletterbox_xyxy"]

logger = logging.getLogger(__name__)

_EXAMPLE_WEIGHTS = "../shared/models/yolo11n_int8_openvino_model"
_OFFICIAL_SUFFIXES = (".pt", ".yaml")
_LETTERBOX_GREY = 114  # Ultralytics' padding value
_PAD_ROUNDING = 0.1  # Ultralytics splits odd padding as round(d/2 - 0.1) before, round(d/2 + 0.1) after
_PIXEL_MAX = 255.0
_MAX_INPUT_SIZES = 4  # compiled input sizes kept per reshaped OpenVINO detector
_AUTO_STREAMS = 2  # detector.streams 0: streams when the process has at least this many threads
_RESHAPE_PROBE_STRIDES = 5  # the load-time reshape check uses an input this many largest strides shorter


@dataclass(frozen=True)
class DetectorInfo:
    """What the detector runs, for logs and benchmarks."""

    weights: str
    model_name: str
    backend_format: str
    imgsz: tuple[int, int]
    fixed_input_size: bool
    device: str
    num_classes: int
    fits_frame: bool = False  # input letterboxed to each frame's aspect (fixed-size exports: reshaped)
    streams: int = 1  # frames detected at once by ``UltralyticsDetector.start``

    def __str__(self) -> str:
        kind = "fixed" if self.fixed_input_size else "dynamic"
        fit = ", fitted to the frame's aspect" if self.fits_frame else ""
        streams = f", {self.streams} streams" if self.streams > 1 else ""
        return (f"{self.model_name} ({self.backend_format}, {kind} input {self.imgsz[0]}x{self.imgsz[1]}{fit}, "
                f"{self.num_classes} classes, device {self.device}{streams}) from {self.weights}")


def _is_official_name(weights: str) -> bool:
    """A bare file name such as ``yolo11n.pt`` that Ultralytics knows how to download."""
    return (os.sep not in weights and "/" not in weights and weights.lower().startswith("yolo")
            and weights.lower().endswith(_OFFICIAL_SUFFIXES))


def _missing_weights_error(weights: str, why: str) -> ConfigError:
    return ConfigError(
        f"detector.weights = {weights!r}: {why}. Pass a local Ultralytics model (.pt, .onnx or an "
        f"*_openvino_model directory), e.g. --set detector.weights={_EXAMPLE_WEIGHTS}")


def resolve_detector_weights(weights: str) -> str:
    """Return the local path of ``weights``, or the bare official name left for Ultralytics to download.

    Raises:
        ConfigError: naming ``detector.weights`` when the path does not exist and is not an official name.
    """
    if not weights:
        raise _missing_weights_error(weights, "is empty")
    path = Path(weights).expanduser()
    if path.exists():
        return str(path)
    if _is_official_name(weights):
        return weights
    raise _missing_weights_error(weights, f"no such file or directory ({path.resolve()})")


def filter_min_size_xyxy(xyxy: np.ndarray, min_width_px: float, min_height_px: float) -> np.ndarray:
    """Boolean mask of boxes at least ``min_width_px`` wide and ``min_height_px`` tall.

    Args:
        xyxy: (N, 4) boxes.
    Returns:
        (N,) bool.
    """
    xyxy = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
    return ((xyxy[:, 2] - xyxy[:, 0]) >= min_width_px) & ((xyxy[:, 3] - xyxy[:, 1]) >= min_height_px)


class UltralyticsDetector:
    """Detects people with an Ultralytics YOLO model (implements ``tracker.core.protocols.Detector``).

    Person class only, class-agnostic NMS at ``detector.nms_iou``, scores >= ``detector.conf_threshold``, at most
    ``detector.max_detections`` boxes, boxes smaller than the min width/height dropped. Not thread-safe: use one
    instance per worker thread/process.
    """

    def __init__(self, cfg: DetectorConfig) -> None:
        os.environ.setdefault("YOLO_AUTOINSTALL", "False")  # never pip-install at run time
        self._cfg = cfg
        weights = resolve_detector_weights(cfg.weights)
        try:
            from ultralytics import YOLO

            from tracker.telemetry.logs import adopt_library_logger

            adopt_library_logger()  # Ultralytics prints to stdout at INFO otherwise
            self._model = YOLO(weights, task="detect")
        except (FileNotFoundError, ConnectionError, OSError) as exc:
            raise _missing_weights_error(cfg.weights, f"could not be loaded or downloaded ({exc})") from exc
        except Exception as exc:  # noqa: BLE001 - Ultralytics raises many kinds; say which key was at fault
            raise _missing_weights_error(cfg.weights, f"is not a model Ultralytics can load ({exc})") from exc
        self._predict_args: dict[str, Any] = dict(
            conf=cfg.conf_threshold, iou=cfg.nms_iou, classes=[cfg.person_class_id], agnostic_nms=True,
            max_det=cfg.max_detections, imgsz=cfg.imgsz, device=cfg.device, verbose=False, save=False,
            **_precision_args(cfg.half))
        # The first predict() builds the predictor, loads the backend and warms it up; detect() then reuses it.
        warmup_image = np.full((cfg.imgsz, cfg.imgsz, 3), _LETTERBOX_GREY, dtype=np.uint8)
        try:
            self._model.predict(warmup_image, **self._predict_args)
        except Exception as exc:  # noqa: BLE001 - backend load errors come in many kinds
            raise ConfigError(f"detector: cannot run detector.weights = {cfg.weights!r} on detector.device = "
                              f"{cfg.device!r} ({type(exc).__name__}: {exc}); check both keys, e.g. --set "
                              f"detector.weights={_EXAMPLE_WEIGHTS} --set detector.device=cpu") from exc
        # Ultralytics types its predictor Optional; predict() above has built it.
        self._predictor: Any = cast(Any, self._model.predictor)
        backend = self._predictor.model
        names = backend.names  # read after predict(): YOLO.names would build a second predictor for exports
        person = names.get(cfg.person_class_id) if isinstance(names, dict) else None
        if person != "person":
            logger.warning("detector.person_class_id = %d is %r in %s's labels, not 'person'",
                           cfg.person_class_id, person, cfg.weights)
        fixed = not bool(getattr(backend, "dynamic", False)) and getattr(backend, "format", "pt") != "pt"
        imgsz = tuple(int(s) for s in np.broadcast_to(np.asarray(self._predictor.imgsz), (2,)))
        if fixed and tuple(imgsz) != (cfg.imgsz, cfg.imgsz):
            logger.info("detector.imgsz = %d ignored: %s has a fixed input size %dx%d (from its metadata.yaml)",
                        cfg.imgsz, cfg.weights, imgsz[0], imgsz[1])
        self._stride = int(max(np.asarray(getattr(backend, "stride", 32)).reshape(-1)))
        self._ir_inputs: _OpenVinoInputs | None = None
        self.input_hw: tuple[int, int] = (imgsz[0], imgsz[1])  # (h, w) of the network input of the last detect()
        if fixed:
            self._ir_inputs = _OpenVinoInputs.create(weights, backend, (imgsz[0], imgsz[1]),
                                                     reshape=cfg.input_shape == "auto", num_threads=cfg.num_threads,
                                                     streams=detector_streams(cfg))
        streams = self._ir_inputs.streams if self._ir_inputs is not None else 1
        # frames pending at once in ``start``: one per stream plus one queued in OpenVINO, so no stream waits while
        # Python letterboxes the next frame or runs NMS on the last one (measured: 2 streams 36.7 fps, +1 38-40)
        self.max_in_flight = streams + 1 if streams > 1 else 1
        # Ultralytics letterboxes to the smallest stride-multiple rectangle only for dynamic-shape models; fixed
        # OpenVINO exports do too once they can be reshaped.
        self._auto_shape = not fixed or (self._ir_inputs is not None and self._ir_inputs.reshapes)
        self.info = DetectorInfo(
            weights=str(weights), model_name=_model_name(weights), backend_format=str(getattr(backend, "format", "?")),
            imgsz=(imgsz[0], imgsz[1]), fixed_input_size=fixed, device=str(getattr(backend, "device", cfg.device)),
            num_classes=len(names) if isinstance(names, dict) else 0, fits_frame=self._auto_shape,
            streams=streams)
        logger.info("detector: %s", self.info)

    # ------------------------------------------------------------------------------------------------------------

    def detect(self, image_bgr: np.ndarray) -> Detections:
        """Detect people.

        Args:
            image_bgr: (H, W, 3) uint8 BGR.
        Returns:
            Detections with (N, 4) xyxy in image pixels and (N,) scores, sorted by score (highest first).
        """
        import torch

        backend = self._predictor.model
        blob, gain_xy, pad_xy = self._network_input(image_bgr)
        with torch.inference_mode():
            im = torch.from_numpy(blob)
            im = (im.half() if backend.fp16 else im).to(backend.device)
            preds = backend(im)
        return self._postprocess(preds, gain_xy, pad_xy, image_bgr.shape[:2])

    def start(self, image_bgr: np.ndarray) -> PendingDetections:
        """Start detecting people in ``image_bgr``; ``.result()`` of the returned handle gives what ``detect`` would.

        Up to ``max_in_flight`` frames may be pending at once (on the OpenVINO streams, one queued); take their results
        in the order they were started. With one stream the frame is detected here, before returning.
        """
        if self.max_in_flight <= 1 or self._ir_inputs is None:
            return _Finished(self.detect(image_bgr))
        blob, gain_xy, pad_xy = letterbox_blob(image_bgr, self._letterbox_hw(image_bgr), self._stride,
                                               auto=self._auto_shape)
        request = self._ir_inputs.take_stream_request(blob.shape[2], blob.shape[3])
        try:
            request.start_async({0: blob})
        except Exception:
            self._ir_inputs.give_back(request, blob.shape[2], blob.shape[3])
            raise
        return _PendingOpenVino(self, request, blob, gain_xy, pad_xy, image_bgr.shape[:2])

    def _postprocess(self, preds: Any, gain_xy: tuple[float, float], pad_xy: tuple[int, int],
                     image_hw: tuple[int, int]) -> Detections:
        """Raw network output -> NMS -> person boxes in image pixels."""
        import torch
        from ultralytics.utils import nms

        cfg, backend = self._cfg, self._predictor.model
        with torch.inference_mode():
            (out,) = nms.non_max_suppression(
                preds, cfg.conf_threshold, cfg.nms_iou, classes=[cfg.person_class_id], agnostic=True,
                max_det=cfg.max_detections, nc=0, end2end=getattr(backend, "end2end", False))
            out = out.float().cpu().numpy()
        xyxy = unletterbox_xyxy(out[:, :4], gain_xy, pad_xy, image_hw)
        return self._finish(xyxy, out[:, 4])

    def predict_reference(self, image_bgr: np.ndarray) -> Detections:
        """The same detection through the plain ``YOLO.predict()`` call (slower; for tests and benchmarks). A fixed-size
        model runs at its export size here, as Ultralytics letterboxes it."""
        if self._ir_inputs is not None:
            self._ir_inputs.use(*self.info.imgsz)
        (result,) = self._model.predict(image_bgr, **self._predict_args)  # one image: one Results
        self.input_hw = self.info.imgsz
        self._predictor = cast(Any, self._model.predictor)  # predict() may rebuild it
        boxes: Any = cast(Any, result).boxes  # a Results' Boxes (xyxy, conf: torch tensors)
        return self._finish(boxes.xyxy.cpu().numpy(), boxes.conf.cpu().numpy())

    def backend_input(self, image_bgr: np.ndarray) -> Any:
        """The letterboxed (1, 3, h, w) input tensor ``detect`` feeds the backend; for overhead measurements."""
        import torch

        blob, _, _ = self._network_input(image_bgr)
        return torch.from_numpy(blob)

    def _network_input(self, image_bgr: np.ndarray) -> tuple[np.ndarray, tuple[float, float], tuple[int, int]]:
        """Letterbox ``image_bgr`` into the (1, 3, h, w) blob and make the backend run on that size; returns the
        blob with the (x, y) gain and padding for mapping boxes back."""
        blob, gain_xy, pad_xy = letterbox_blob(image_bgr, self._letterbox_hw(image_bgr), self._stride,
                                               auto=self._auto_shape)
        if self._ir_inputs is not None:
            self._ir_inputs.use(blob.shape[2], blob.shape[3])
        self.input_hw = (blob.shape[2], blob.shape[3])
        return blob, gain_xy, pad_xy

    def _letterbox_hw(self, image_bgr: np.ndarray) -> tuple[int, int]:
        """The letterbox target for this frame: the model's size, or with ``input_shape: auto`` that size widened
        for a very wide or tall frame (:func:`letterbox_size`)."""
        if not self._auto_shape:
            return self.info.imgsz
        height, width = image_bgr.shape[:2]
        return letterbox_size((height, width), self.info.imgsz, self._cfg.wide_min_short_side, self._stride)

    def backend_forward(self, im: Any) -> Any:
        """Run only the Ultralytics backend on a prepared input (no letterbox, no NMS); for overhead measurements."""
        import torch

        if self._ir_inputs is not None:  # predict_reference() may have switched the backend to the export size
            self._ir_inputs.use(int(im.shape[2]), int(im.shape[3]))
        with torch.inference_mode():
            return self._predictor.model(im)

    def _finish(self, xyxy: np.ndarray, confidence: np.ndarray) -> Detections:
        keep = filter_min_size_xyxy(xyxy, self._cfg.min_box_width_px, self._cfg.min_box_height_px)
        return Detections(xyxy[keep], confidence[keep])

    def __repr__(self) -> str:
        return f"UltralyticsDetector({self.info})"


class _OpenVinoInputs:
    """Compiled copies of a fixed-size OpenVINO YOLO IR, one per input size (h, w), swapped into Ultralytics'
    OpenVINO backend (its ``ov_compiled_model``). Compiled with the backend's device and config, plus
    ``detector.num_threads`` and without CPU pinning: OpenVINO pins its threads to cores by default, so every camera
    process on a machine pins to the same cores (measured, 4 camera processes with one detector thread each, on 2
    cores at 7 fps each: 18.4 fps in total pinned, 26.8-28.1 unpinned; one process alone runs the same either
    way). At most ``_MAX_INPUT_SIZES`` sizes are kept (a camera changes resolution rarely)."""

    def __init__(self, xml: Path, ov_backend: Any, export_hw: tuple[int, int], reshapes: bool,
                 num_threads: int, streams: int) -> None:
        self._xml = xml
        self._backend = ov_backend
        self._export_hw = export_hw
        self.reshapes = reshapes
        self._num_threads = num_threads
        ov_backend.ov_compiled_model = self._compile(self._read())  # the export size too: unpinned, thread count
        self._compiled: dict[tuple[int, int], Any] = {export_hw: ov_backend.ov_compiled_model}
        self._current = export_hw
        # for ``start``: per input size, the idle infer requests of a copy compiled with several streams
        self._streaming: dict[tuple[int, int], deque[Any]] = {}
        on_cpu = getattr(ov_backend.compile_model, "keywords", {}).get("device_name") == "CPU"
        self.streams = streams if on_cpu else 1  # for ``start``; other devices keep Ultralytics' own settings

    @classmethod
    def create(cls, weights: str, backend: Any, export_hw: tuple[int, int], *, reshape: bool,
               num_threads: int, streams: int) -> _OpenVinoInputs | None:
        """For an Ultralytics AutoBackend running an OpenVINO IR (reshaped to each frame's aspect when ``reshape`` and
        it can be), else None (logged)."""
        from tracker.models.yolo_ir import IrReshapeError, reshape_yolo_ir

        ov_backend = getattr(backend, "backend", None)
        if getattr(backend, "format", "") != "openvino" or not hasattr(ov_backend, "ov_compiled_model"):
            logger.info("detector: a fixed-size %s model keeps its %dx%d input and thread count (only OpenVINO IRs "
                        "are reshaped and take detector.num_threads)", getattr(backend, "format", "?"), *export_hw)
            return None
        path = Path(weights)
        xml = path if path.is_file() else next(iter(sorted(path.glob("*.xml"))), None)
        if xml is None:
            return None
        if reshape:
            try:  # check now that the IR reshapes (to a wide input other than the export's), not on the first frame
                import openvino as ov

                reshape_yolo_ir(ov.Core().read_model(str(xml)), export_hw,
                                (export_hw[0] - _RESHAPE_PROBE_STRIDES * max(DETECT_STRIDES), export_hw[1]))
            except (IrReshapeError, RuntimeError) as exc:
                logger.warning("detector.input_shape = auto: %s cannot be reshaped (%s); it keeps its %dx%d input",
                               xml, exc, *export_hw)
                reshape = False
        return cls(xml, ov_backend, export_hw, reshape, num_threads, streams)

    def _read(self) -> Any:
        import openvino as ov

        return ov.Core().read_model(str(self._xml))

    def _compile(self, model: Any, streams: int = 1) -> Any:
        compile_model = self._backend.compile_model  # functools.partial(core.compile_model, device_name, config)
        config = dict(getattr(compile_model, "keywords", {}).get("config") or {})
        config["ENABLE_CPU_PINNING"] = False
        if self._num_threads > 0:
            config["INFERENCE_NUM_THREADS"] = self._num_threads  # in all, shared by the streams
        if streams > 1:
            config.pop("PERFORMANCE_HINT", None)  # Ultralytics' LATENCY hint means one stream
            config["NUM_STREAMS"] = streams
        return compile_model(model, config=config)

    def _model_for(self, hw: tuple[int, int]) -> Any:
        model = self._read()
        if hw != self._export_hw:
            from tracker.models.yolo_ir import reshape_yolo_ir

            reshape_yolo_ir(model, self._export_hw, hw)
        return model

    def take_stream_request(self, height: int, width: int) -> Any:
        """An idle infer request of the ``streams``-stream model for (1, 3, height, width) input (compiled on first
        use); give it back with ``give_back`` once its result is read. There are streams + 1 requests per size.

        Raises:
            RuntimeError: all of them are pending (more frames started than ``max_in_flight`` without taking
                results, e.g. two pipelines sharing one detector).
        """
        hw = (height, width)
        idle = self._streaming.get(hw)
        if idle is None:
            compiled = self._compile(self._model_for(hw), self.streams)
            idle = deque(compiled.create_infer_request() for _ in range(self.streams + 1))
            if len(self._streaming) >= _MAX_INPUT_SIZES:  # pending requests of a dropped size stay valid
                del self._streaming[next(iter(self._streaming))]
            self._streaming[hw] = idle
            logger.info("detector: %s compiled for input %dx%d (h x w) with %d streams", self._xml.name, height,
                        width, self.streams)
        if not idle:
            raise RuntimeError(f"detector: {self.streams + 1} frames are already pending on its OpenVINO streams; "
                               f"take a result (UltralyticsDetector.start(...).result()) before starting another, "
                               f"and give each camera pipeline its own detector")
        return idle.popleft()

    def give_back(self, request: Any, height: int, width: int) -> None:
        """Return a request of ``take_stream_request(height, width)`` whose result has been read."""
        idle = self._streaming.get((height, width))
        if idle is not None:  # else that size was dropped meanwhile, and the request with it
            idle.append(request)

    def use(self, height: int, width: int) -> None:
        """Make the backend run on (1, 3, height, width) input, compiling that size on first use."""
        hw = (height, width)
        if hw == self._current:
            return
        compiled = self._compiled.get(hw)
        if compiled is None:
            compiled = self._compile(self._model_for(hw))
            if len(self._compiled) >= _MAX_INPUT_SIZES:  # drop the oldest size other than the export's
                del self._compiled[next(k for k in self._compiled if k != self._export_hw)]
            self._compiled[hw] = compiled
            logger.info("detector: %s reshaped to input %dx%d (h x w)", self._xml.name, height, width)
        self._backend.ov_compiled_model = compiled
        self._current = hw


def detector_streams(cfg: DetectorConfig, cpu_count: int | None = None) -> int:
    """``detector.streams`` resolved: as set, or (0, automatic) 2 when the process has 2 or more detector threads
    (``detector.num_threads``, or every core it may run on when that is 0 too), else 1."""
    if cfg.streams > 0:
        return cfg.streams
    threads = cfg.num_threads or cpu_count or _usable_cores()
    return _AUTO_STREAMS if threads >= _AUTO_STREAMS else 1


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


class _Finished:
    """Detections already made (one-stream detectors detect in ``start``)."""

    def __init__(self, detections: Detections) -> None:
        self._detections = detections

    def result(self) -> Detections:
        return self._detections


class _PendingOpenVino:
    """A frame on an OpenVINO stream: the infer request runs in OpenVINO's threads, without the GIL."""

    def __init__(self, detector: UltralyticsDetector, request: Any, blob: np.ndarray, gain_xy: tuple[float, float],
                 pad_xy: tuple[int, int], image_hw: tuple[int, int]) -> None:
        self._detector = detector
        self._request = request
        self._blob: np.ndarray | None = blob  # the request reads it until it is done
        self._input_hw = (int(blob.shape[2]), int(blob.shape[3]))
        self._geometry = (gain_xy, pad_xy, image_hw)

    def result(self) -> Detections:
        import torch

        request = self._request
        try:
            request.wait()
            outputs = [torch.from_numpy(np.array(request.get_output_tensor(i).data, dtype=np.float32, copy=True))
                       for i in range(len(request.model_outputs))]
        finally:
            self._blob = None
            assert self._detector._ir_inputs is not None
            self._detector._ir_inputs.give_back(request, *self._input_hw)
        preds = outputs[0] if len(outputs) == 1 else outputs  # as Ultralytics' AutoBackend hands them to NMS
        return self._detector._postprocess(preds, *self._geometry)


def letterbox_size(frame_hw: tuple[int, int], model_hw: tuple[int, int], min_short_side: float,
                   stride: int) -> tuple[int, int]:
    """The (h, w) target to letterbox a frame into (before stride padding) for ``input_shape: auto``.

    Normally ``model_hw``: the frame's long side is scaled to the model's size. When the frame's short side would
    then come out below ``min_short_side`` times the model's short side (a frame wider or taller than about 2:1 at
    0.5), the frame is scaled so its short side is that long instead, as far as the input then holds no more pixels
    than ``model_hw`` itself (the square input's compute). E.g. a 1224x370 frame and a 640x640 model: 1056 wide
    (gain 0.863, the frame at 319x1056, padded to 320x1056) instead of 640 (gain 0.523, 194x640). The result is
    square (``L x L``, ``L`` a multiple of ``stride``) so that :func:`letterbox_blob` scales by ``L / max(frame_hw)``.

    Args:
        frame_hw: (H, W) of the frame. model_hw: (h, w) of the model's input. min_short_side: fraction in [0, 1];
            0 keeps ``model_hw``. stride: the model's largest stride.
    """
    height, width = frame_hw
    model_h, model_w = model_hw
    gain = min(model_h / height, model_w / width)
    want_short = min_short_side * min(model_h, model_w)
    if min(height, width) * gain >= want_short or min_short_side <= 0:
        return model_hw
    budget_gain = (model_h * model_w / (height * width)) ** 0.5  # the frame at this gain has model_h*model_w pixels
    wide_gain = max(gain, min(want_short / min(height, width), budget_gain))
    side = max(int(max(height, width) * wide_gain) // stride * stride, max(model_h, model_w))
    return side, side


def letterbox_blob(image_bgr: np.ndarray, out_hw: tuple[int, int], stride: int, *,
                   auto: bool) -> tuple[np.ndarray, tuple[float, float], tuple[int, int]]:
    """Ultralytics' centred letterbox (same rounding and grey padding), straight into a network input blob.

    Args:
        image_bgr: (H, W, 3) uint8 BGR.
        out_hw: (h, w) target size; with ``auto`` the padding is cut to the smallest multiple of ``stride``.
    Returns:
        blob: (1, 3, h', w') float32 RGB in [0, 1]; gain_xy: resize factors (x, y); pad_xy: left/top padding px.
    """
    height, width = image_bgr.shape[:2]
    out_h, out_w = out_hw
    gain = min(out_h / height, out_w / width)
    new_w, new_h = max(round(width * gain), 1), max(round(height * gain), 1)
    pad_w, pad_h = out_w - new_w, out_h - new_h
    if auto:
        pad_w, pad_h = pad_w % stride, pad_h % stride
    left, top = round(pad_w / 2 - _PAD_ROUNDING), round(pad_h / 2 - _PAD_ROUNDING)
    right, bottom = round(pad_w / 2 + _PAD_ROUNDING), round(pad_h / 2 + _PAD_ROUNDING)
    if (new_w, new_h) != (width, height):
        image_bgr = cv2.resize(image_bgr, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    padded = image_bgr
    if top or bottom or left or right:
        padded = cv2.copyMakeBorder(image_bgr, top, bottom, left, right, cv2.BORDER_CONSTANT,
                                    value=(_LETTERBOX_GREY,) * 3)
    # BGR HWC uint8 -> RGB CHW float32 / 255, channel by channel (Ultralytics' arithmetic; several times faster
    # than cv2.dnn.blobFromImage here)
    blob = np.empty((1, 3, *padded.shape[:2]), dtype=np.float32)
    for rgb_channel in range(3):
        np.divide(padded[:, :, 2 - rgb_channel], np.float32(_PIXEL_MAX), out=blob[0, rgb_channel], dtype=np.float32)
    return blob, (new_w / width, new_h / height), (left, top)


def unletterbox_xyxy(xyxy: np.ndarray, gain_xy: tuple[float, float], pad_xy: tuple[int, int],
                     image_hw: tuple[int, int]) -> np.ndarray:
    """Map (N, 4) xyxy boxes from letterboxed network pixels back to the image, clipped to it."""
    out = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4).copy()
    out[:, [0, 2]] = (out[:, [0, 2]] - pad_xy[0]) / gain_xy[0]
    out[:, [1, 3]] = (out[:, [1, 3]] - pad_xy[1]) / gain_xy[1]
    out[:, [0, 2]] = out[:, [0, 2]].clip(0, image_hw[1])
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, image_hw[0])
    return out


def _precision_args(half: bool) -> dict[str, Any]:
    """FP16 request in the form this Ultralytics version takes (``quantize`` replaced ``half`` in 8.4)."""
    from ultralytics.cfg import DEFAULT_CFG_DICT

    if "quantize" in DEFAULT_CFG_DICT:
        return {"quantize": 16 if half else None}
    return {"half": half}


def _model_name(weights: str) -> str:
    path = Path(weights)
    name = path.name
    for suffix in ("_openvino_model", "_saved_model", "_ncnn_model"):
        name = name.removesuffix(suffix)
    return Path(name).stem if path.suffix else name

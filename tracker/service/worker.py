"""The live camera worker: source -> pipeline -> publisher, with heartbeats, metrics and Redis-outage buffering.

One process per camera (``mctrack worker`` or a child of ``mctrack run``). The frame loop never blocks on Redis:
every Redis write (frame messages, camera registration, heartbeats) goes through an :class:`tracker.bus.outbox.Outbox`
thread that buffers while Redis is down and flushes in order when it is back. The loop polls live sources with a
short timeout so heartbeats continue while a camera is down; a loop that stops making progress (hung) stops
beating and its heartbeat expires (``worker.heartbeat_ttl_s``), which is how the supervisor sees it.

Secrets: the camera ``source`` may hold ``${VAR}`` references, expanded from the environment here
(:func:`expand_env`); the expanded value is never logged (every log line and heartbeat is redacted).

Exit codes: 0 after a stop request or at the end of a file source; 2 when the run cannot go on (bad config,
missing model files, unreadable source, unusable Redis URL); 1 for an unexpected error.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from streams.base import Frame, SourceError
from streams.redact import redact
from tracker.bus.heartbeat import (
    KIND_WORKER,
    HeartbeatKeys,
    HeartbeatRecord,
    write_heartbeat,
)
from tracker.bus.outbox import Outbox
from tracker.bus.schema import Keys
from tracker.bus.write_behind import WriteBehindClient, make_outbox
from tracker.config import Config, ConfigError
from tracker.config.geometry import resolve_calibrations
from tracker.pipeline.camera import CameraPipeline, FrameResult
from tracker.pipeline.loop import FrameLoop
from tracker.pipeline.publish_sink import FramePublisher, PublishSink
from tracker.pipeline.sink import FrameSink
from tracker.pipeline.snapshot_sink import SnapshotSink
from tracker.telemetry.exit_codes import EXIT_ERROR, EXIT_FATAL, EXIT_OK
from tracker.telemetry.logs import set_camera_id
from tracker.telemetry.metrics import (
    MetricsServer,
    ProcessMetrics,
    Readiness,
    start_metrics,
)

__all__ = ["expand_env", "WorkerResult", "run_worker", "EXIT_OK", "EXIT_FATAL", "EXIT_ERROR"]

logger = logging.getLogger(__name__)


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_MAX_POLL_S = 0.5          # longest wait for a live frame before the loop beats / checks the stop flag
_CAMERA_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def expand_env(text: str, environ: Mapping[str, str] | None = None, *, what: str = "source") -> str:
    """Replace every ``${VAR}`` in ``text`` with the environment variable's value.

    Raises:
        ConfigError: a referenced variable is not set (the message names the variable, never a value).
    """
    env = os.environ if environ is None else environ
    missing = sorted({m.group(1) for m in _ENV_REF.finditer(text) if m.group(1) not in env})
    if missing:
        raise ConfigError(f"{what} {redact(text)!r} refers to environment variable(s) {', '.join(missing)} which "
                          f"are not set: export them (e.g. in the container's environment) or remove the reference")
    return _ENV_REF.sub(lambda m: env[m.group(1)], text)


@dataclass
class WorkerResult:
    """What a worker run did (also in its last heartbeat)."""

    exit_code: int
    frames_processed: int
    messages_put: int
    messages_sent: int
    messages_dropped: int
    reason: str


class _Beat:
    """Builds heartbeat records and hands them to the outbox at most once per interval."""

    def __init__(self, cfg: Config, outbox: Outbox, camera: str, source_display: str) -> None:
        self.cfg = cfg
        self.keys = HeartbeatKeys(cfg.redis.key_prefix)
        self.outbox = outbox
        self.record = HeartbeatRecord(kind=KIND_WORKER, name=camera, source=source_display)
        self.writer: WriteBehindClient | None = None
        self._last_mono = -float("inf")
        self._last_in = 0
        self._last_out = 0
        self._lock = threading.Lock()

    def due(self) -> bool:
        return time.monotonic() - self._last_mono >= self.cfg.worker.heartbeat_interval_s

    def send(self, **changes: Any) -> None:
        """Update the record (rates from the frame counters since the previous beat) and queue it."""
        with self._lock:
            now_mono = time.monotonic()
            rec = replace(self.record, **changes)
            ob = self.outbox.stats()
            rec.outbox_depth, rec.outbox_dropped = ob.depth, ob.dropped
            rec.redis_errors, rec.redis_reconnects = ob.redis_errors, ob.reconnects
            rec.messages_put, rec.messages_sent = ob.put, ob.sent
            if self.writer is not None:
                rec.updates_put = self.writer.updates_put
            if not rec.last_error and ob.last_error and not ob.connected:
                rec.last_error = f"Redis: {ob.last_error}"
            span = now_mono - self._last_mono
            if 0 < span < float("inf"):
                rec.fps_in = round((rec.frames_in - self._last_in) / span, 2)
                rec.fps_out = round((rec.frames_processed - self._last_out) / span, 2)
            self._last_in, self._last_out = rec.frames_in, rec.frames_processed
            self._last_mono = now_mono
            rec.updated_at = time.time()
            self.record = rec
            keys, ttl = self.keys, self.cfg.worker.heartbeat_ttl_s
            self.outbox.set_latest("heartbeat", lambda client: write_heartbeat(client, keys, rec, ttl))


class _StartupBeats:
    """Beats 'starting' from a thread while the models load (the frame loop beats afterwards)."""

    def __init__(self, beat: _Beat, interval_s: float) -> None:
        self._beat = beat
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="startup-heartbeat", daemon=True)

    def __enter__(self) -> _StartupBeats:
        self._thread.start()
        return self

    def _run(self) -> None:
        while True:
            self._beat.send(state="starting")
            if self._stop.wait(self._interval_s):
                return

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _frames(source: Any, stop: threading.Event, poll_s: float,
            in_flight: Callable[[], bool]) -> Iterator[tuple[Frame | None, float, bool]]:
    """(frame or None, seconds spent getting it, idle). A live source gives None when it had nothing within
    ``poll_s`` (idle), or at once when nothing is ready while ``in_flight()`` says frames are still in the pipeline
    (not idle), so they are finished now instead of when the camera's next frame comes."""
    if hasattr(source, "read"):  # live: poll, so the loop can beat and stop while the camera is down
        while not stop.is_set():
            t0 = time.perf_counter()
            if in_flight():
                frame = source.read(0.0)
                if frame is None:
                    yield None, time.perf_counter() - t0, False
                    continue
            else:
                frame = source.read(poll_s)
            yield frame, time.perf_counter() - t0, frame is None
        return
    it = iter(source)
    while not stop.is_set():
        t0 = time.perf_counter()
        try:
            frame = next(it)
        except StopIteration:
            return
        yield frame, time.perf_counter() - t0, False


def run_worker(cfg: Config, camera: str, source_spec: str, *, redis_url: str | None = None, fps: float = 0.0,
               stop: threading.Event | None = None, metrics_port: int | None = None,
               models: tuple[Any, Any, Any] | None = None) -> WorkerResult:
    """Run one camera until ``stop`` is set (or a file source ends).

    Args:
        cfg: full configuration. camera: camera id. source_spec: file, folder, URL or webcam index; ``${VAR}``
            is expanded from the environment. redis_url: overrides ``redis.url``. fps: > 0 overrides the source.
        stop: set it (from a signal handler or another thread) to stop cleanly.
        metrics_port: overrides ``metrics.port`` (0 = no metrics server).
        models: (detector, embedder, clahe) already built (tests, benchmarks); default built from the config.
    Returns:
        a :class:`WorkerResult`; ``exit_code`` is EXIT_FATAL for errors that make the run impossible.
    """
    from streams.factory import open_source
    from tracker.bus.publisher import TrackletPublisher

    stop = stop or threading.Event()
    if not _CAMERA_ID.fullmatch(camera or ""):
        raise ConfigError(f"camera name {camera!r}: use 1-64 letters, digits, '-' or '_'")
    set_camera_id(camera)
    keys = Keys(cfg.redis.key_prefix)
    display = redact(source_spec)

    def register(client: Any) -> None:
        client.sadd(keys.cameras(), camera)

    outbox, handles = make_outbox(cfg, redis_url, camera, on_connect=register)
    outbox.start()
    metrics = ProcessMetrics(f"worker:{camera}")
    readiness = Readiness()
    server = None
    beat = _Beat(cfg, outbox, camera, display)
    source = None
    frames_processed = 0
    reason = ""
    code = EXIT_OK
    try:
        server = start_metrics(cfg, metrics_port, metrics, readiness)
        with _StartupBeats(beat, cfg.worker.heartbeat_interval_s):
            try:
                spec = expand_env(source_spec, what=f"camera {camera} source")
                source = open_source(spec, camera, cfg.source, fps)
                if models is None:
                    from tracker.models.factory import build_models

                    models = build_models(cfg)
            except (ConfigError, SourceError, FileNotFoundError) as exc:
                reason = redact(str(exc))
                code = EXIT_FATAL
        if code == EXIT_FATAL:
            logger.error("camera %s cannot start: %s", camera, reason)
            readiness.set(False, f"failed: {reason}")
            beat.send(state="failed", last_error=reason)
            return _finish(cfg, outbox, handles, server, code, frames_processed, reason)
        assert source is not None and models is not None
        detector, embedder, clahe = models
        src_fps = fps or getattr(source, "fps", 0.0) or cfg.source.default_fps
        known = [c.name for c in cfg.cameras] + ([] if any(c.name == camera for c in cfg.cameras) else [camera])
        calibration = resolve_calibrations(cfg, known).get(camera)
        pipeline = CameraPipeline(cfg, camera, src_fps, detector, embedder, clahe, calibration=calibration)
        beat.writer = WriteBehindClient(outbox)
        publisher = TrackletPublisher(beat.writer, cfg, camera)
        logger.info("camera %s: processing %s at %.1f fps", camera, display, src_fps)
        readiness.set(True, "ok")
        frames_processed = _loop(cfg, camera, source, pipeline, publisher, outbox, beat, metrics, readiness, stop)
        reason = "stop requested" if stop.is_set() else "end of source"
        st = source.stats()
        beat.send(state="stopping", frames_processed=frames_processed, frames_in=st.frames_read,
                  frames_dropped=st.frames_dropped)
        return _finish(cfg, outbox, handles, server, EXIT_OK, frames_processed, reason, beat=beat, source=source)
    except Exception as exc:
        reason = redact(f"{type(exc).__name__}: {exc}")
        logger.exception("camera %s: worker failed: %s", camera, reason)
        beat.send(state="failed", last_error=reason)
        return _finish(cfg, outbox, handles, server, EXIT_ERROR, frames_processed, reason, source=source)


class _WorkerMetrics:
    """A frame sink: each frame's stage latencies (s) and counts to Prometheus; the active tracks of the last frame
    for the heartbeat."""

    def __init__(self, camera: str, metrics: ProcessMetrics) -> None:
        self.camera = camera
        self.metrics = metrics
        self.active_tracks = 0

    def on_frame(self, frame: Frame, result: FrameResult) -> None:
        camera, metrics = self.camera, self.metrics
        for name, ms in result.timings_ms.items():
            metrics.stage_latency.labels(camera=camera, stage=name).observe(ms / 1000.0)
        self.active_tracks = len(result.updates)
        metrics.frames_processed.labels(camera=camera).inc()
        metrics.active_tracks.labels(camera=camera).set(self.active_tracks)

    def close(self, *, completed: bool = True) -> None:
        """Nothing to release."""


def _loop(cfg: Config, camera: str, source: Any, pipeline: CameraPipeline, publisher: FramePublisher,
          outbox: Outbox, beat: _Beat, metrics: ProcessMetrics, readiness: Readiness, stop: threading.Event) -> int:
    """Frames from ``source`` until ``stop`` (or its end) through the pipeline to the publisher; returns the frames
    processed. The frames in flight are finished when the camera has nothing ready, and at the end."""
    poll_s = min(_MAX_POLL_S, cfg.worker.heartbeat_interval_s)
    counts = _WorkerMetrics(camera, metrics)
    snapshots = (SnapshotSink(outbox, Keys(cfg.redis.key_prefix), camera, cfg.snapshots)
                 if cfg.snapshots.enabled else None)
    sinks: list[FrameSink] = [PublishSink(publisher), counts, *([snapshots] if snapshots is not None else [])]
    with FrameLoop({camera: pipeline}, sinks) as loop:
        for frame, got_s, idle in _frames(source, stop, poll_s, loop.has_frames_in_flight):
            if frame is not None:
                loop.submit(frame, decode_ms=got_s * 1e3)
            else:
                loop.flush()  # nothing new from the camera: finish the frames in flight
            if idle or beat.due():
                _report(camera, source, outbox, beat, metrics, readiness, loop.frames_done, counts.active_tracks,
                        snapshots)
        loop.flush()
    return loop.frames_done


def _report(camera: str, source: Any, outbox: Outbox, beat: _Beat, metrics: ProcessMetrics, readiness: Readiness,
            processed: int, active: int, snapshots: SnapshotSink | None = None) -> None:
    if snapshots is not None:
        snap = snapshots.stats()
        metrics.add_total(metrics.snapshots_written, snap.written, camera=camera)
        metrics.add_total(metrics.snapshots_dropped, snap.dropped, camera=camera)
    st = source.stats()
    connected = bool(st.connected) or not hasattr(source, "read")
    metrics.add_total(metrics.frames_in, st.frames_read, camera=camera)
    metrics.add_total(metrics.frames_dropped, st.frames_dropped, camera=camera)
    metrics.add_total(metrics.source_reconnects, st.reconnects, camera=camera)
    ob = outbox.stats()
    proc = f"worker:{camera}"
    metrics.outbox_depth.labels(process=proc).set(ob.depth)
    metrics.add_total(metrics.outbox_dropped, ob.dropped, process=proc)
    metrics.add_total(metrics.messages_published, ob.sent, process=proc)
    metrics.add_total(metrics.redis_errors, ob.redis_errors, process=proc)
    metrics.add_total(metrics.redis_reconnects, ob.reconnects, process=proc)
    readiness.set(connected, "ok" if connected else f"source down: {st.last_error or 'connecting'}")
    metrics.ready.set(1 if connected else 0)
    if beat.due():
        beat.send(state="running" if connected else "source-down", frames_in=st.frames_read,
                  frames_processed=processed, frames_dropped=st.frames_dropped, source_reconnects=st.reconnects,
                  active_tracks=active, last_error=st.last_error)


def _finish(cfg: Config, outbox: Outbox, handles: list[Any], server: MetricsServer | None, code: int,
            processed: int, reason: str, *, beat: _Beat | None = None, source: Any = None) -> WorkerResult:
    if source is not None:
        source.close()
    deadline = time.monotonic() + cfg.worker.stop_timeout_s
    if beat is not None:  # flush first, so the last heartbeat has the final counts
        outbox.wait_empty(cfg.worker.stop_timeout_s)
        beat.send(state="stopped", frames_processed=processed, last_error="" if code == EXIT_OK else reason)
    left = outbox.close(max(0.0, deadline - time.monotonic()))
    st = outbox.stats()
    for handle in handles:
        try:
            handle.close()
        except Exception as exc:  # pragma: no cover - best effort at shutdown
            logger.debug("closing Redis: %s", exc)
    if server is not None:
        server.close()
    logger.info("worker stopped (%s): %d frame(s) processed, %d message(s) sent, %d dropped%s", reason, processed,
                st.sent, st.dropped, f" ({left} undelivered at shutdown)" if left else "")
    return WorkerResult(code, processed, st.put, st.sent, st.dropped, reason)

"""Running the web console: the listening socket (bound first, so a busy port is a clear error) and uvicorn."""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Iterator, Mapping
from types import FrameType

import redis
import uvicorn

from tracker.config import Config
from tracker.config.calibration import CameraCalibration, load_calibration
from tracker.telemetry.metrics import ProcessMetrics
from tracker.ui.app import PROCESS_NAME, create_app
from tracker.ui.auth import AuthRule
from tracker.ui.reads import Reader

__all__ = ["site_calibrations", "bind_socket", "serve"]

logger = logging.getLogger(__name__)

GRACEFUL_SHUTDOWN_S = 3.0  # open live-events streams are cut after this on Ctrl-C / SIGTERM


def site_calibrations(cfg: Config) -> dict[str, CameraCalibration]:
    """Every calibrated camera the config knows: the entries of ``geometry.calibration_file`` and the cameras'
    inline calibrations (which win). Raises ConfigError for a bad file or entry."""
    out: dict[str, CameraCalibration] = {}
    if cfg.geometry.calibration_file:
        out.update(load_calibration(cfg.geometry.calibration_file))
    for i, cam in enumerate(cfg.cameras):
        inline = cam.calibrated(f"cameras[{i}].calibration")
        if inline is not None:
            out[cam.name] = inline
    return out


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0 = any free one).

    Raises:
        OSError: with a message naming the address and the fix.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise OSError(f"cannot listen on {host}:{port} ({exc.strerror or exc}): check ui.host / --host") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port} ({exc.strerror or exc}): choose a free port with --port or "
                      f"ui.port (0 = any free port)") from None
    sock.set_inheritable(True)
    return sock


class _Server(uvicorn.Server):
    """uvicorn's server, stopping on SIGINT/SIGTERM without re-raising the signal afterwards (uvicorn does, which
    would make a clean stop exit with -15 instead of 0)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        self.should_exit = True


def serve(cfg: Config, client: redis.Redis, rule: AuthRule, sock: socket.socket,
          calibrations: Mapping[str, CameraCalibration]) -> None:
    """Serve the console on ``sock`` until Ctrl-C / SIGTERM (uvicorn handles both and returns)."""
    metrics = ProcessMetrics(PROCESS_NAME)
    stop = threading.Event()
    app = create_app(Reader(client, cfg, dict(calibrations)), rule, metrics, stop)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in str(host) else str(host)
    config = uvicorn.Config(app, log_config=None, access_log=logger.isEnabledFor(logging.DEBUG), lifespan="off",
                            timeout_graceful_shutdown=int(GRACEFUL_SHUTDOWN_S), server_header=False)
    server = _Server(config)
    metrics.ready.set(1)
    logger.info("web console on http://%s:%d/ (API docs at /docs, metrics at /metrics)%s", shown, port,
                "; access token required" if rule.required else "")
    try:
        server.run(sockets=[sock])
    finally:
        stop.set()
        metrics.ready.set(0)
        logger.info("web console stopped")

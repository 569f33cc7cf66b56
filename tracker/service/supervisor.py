"""``mctrack run``: one process per camera plus the hub process, restarted when they die or hang.

* Children are ``multiprocessing`` processes (spawn), each with its own stop event. A camera worker runs
  :func:`tracker.service.worker.run_worker`, the hub :func:`tracker.hub.runner.run_hub` (as ``mctrack hub`` does).
* Dead child (any exit but a clean one) -> restarted after an exponential backoff
  (``supervisor.restart_initial_backoff_s`` doubling to ``restart_max_backoff_s``; the backoff resets once a
  child stayed up ``healthy_after_s``), at most ``max_restarts`` times per ``restart_window_s``; beyond that it
  stays down in state ``failed`` and the others keep running. A worker that exits with code 2 (bad config,
  missing model, unreadable file) is not restarted: retrying cannot help. A worker whose file source ended
  (exit 0) is done.
* Hung child: its heartbeat in Redis (written only while its loop makes progress) has not changed for
  ``hung_after_s`` (or it never reported running within ``startup_timeout_s``) -> SIGKILL, then as dead. Hangs
  are only judged while Redis answers (after an outage every child gets a fresh grace period).
* ``redis.url`` empty -> the supervisor starts ONE embedded Redis and gives its unix-socket URL to the children.
* SIGINT/SIGTERM -> every child's stop event, join with ``stop_timeout_s``, then SIGTERM, then SIGKILL.
* Metrics: the supervisor on ``metrics.port``, the hub on port + 1, camera i (config order) on port + 2 + i.
* ``supervisor.start_ui``: one more child, the web console, as the command ``python -m tracker ui --config FILE``
  (FILE: the effective config with the Redis URL the children use, written private to a temporary folder and
  removed at shutdown). It is restarted like the hub (exit 2: not restarted); it writes no heartbeat, so it is not
  judged hung.
"""

from __future__ import annotations

import collections
import json
import logging
import multiprocessing as mp
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streams.backoff import backoff_delay_s
from streams.redact import redact
from tracker.bus.heartbeat import (
    HUB_NAME,
    KIND_HUB,
    KIND_WORKER,
    HeartbeatKeys,
    decode_record,
)
from tracker.config import Config, ConfigError, config_to_dict, with_detector_threads_for
from tracker.service.command_child import CommandProcess, CommandStop
from tracker.telemetry.exit_codes import EXIT_ERROR, EXIT_FATAL
from tracker.telemetry.metrics import MetricsServer, ProcessMetrics, Readiness

__all__ = ["Supervisor", "ChildSpec", "KIND_UI", "UI_NAME", "child_specs", "metrics_port_for", "ui_command",
           "write_child_config"]

logger = logging.getLogger(__name__)

_SIGTERM_EXIT = 128 + signal.SIGTERM
_REDIS_RETRY_S = 2.0  # how often the supervisor retries an unreachable Redis (it only reads heartbeats)
KIND_UI = "ui"        # the web console child (``supervisor.start_ui``)
UI_NAME = "ui"


@dataclass(frozen=True)
class ChildSpec:
    """One supervised process: ``kind`` worker (``name`` = camera), hub or ui."""

    kind: str
    name: str
    source: str = ""
    fps: float = 0.0
    metrics_port: int = 0

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.name}"


def metrics_port_for(base_port: int, index: int | None) -> int:
    """Metrics port of a child: hub (index None) base + 1, camera i base + 2 + i; 0 when metrics are off."""
    if not base_port:
        return 0
    return base_port + 1 if index is None else base_port + 2 + index


def child_specs(cfg: Config, only: list[str] | None = None) -> list[ChildSpec]:
    """The hub plus one worker per configured camera, and the web console with ``supervisor.start_ui``
    (``only``: just these names; ``hub`` names the hub, ``ui`` the web console, whatever ``start_ui`` says).

    Raises:
        ConfigError: no cameras configured, or ``only`` names an unknown process.
    """
    specs = [ChildSpec(KIND_HUB, HUB_NAME, metrics_port=metrics_port_for(cfg.metrics.port, None))]
    for i, cam in enumerate(cfg.cameras):
        specs.append(ChildSpec(KIND_WORKER, cam.name, cam.source, cam.fps, metrics_port_for(cfg.metrics.port, i)))
    if cfg.supervisor.start_ui or (only and UI_NAME in only):
        specs.append(ChildSpec(KIND_UI, UI_NAME))
    if only:
        known = {s.name for s in specs}
        unknown = sorted(set(only) - known)
        if unknown:
            raise ConfigError(f"--only {unknown}: not a configured camera, 'hub' or 'ui'; known: {sorted(known)}")
        specs = [s for s in specs if s.name in set(only)]
    elif not cfg.cameras:
        raise ConfigError("cameras is empty: list the cameras to run in the config file (cameras: - name: ... "
                          "source: ...), see docker/site.example.yaml")
    return specs


def write_child_config(cfg: Config, redis_url: str, folder: Path) -> Path:
    """``cfg`` with ``redis.url`` = ``redis_url`` as ``folder/config.yaml``, readable by this user only (it may
    hold the Redis password): the config a command-line child is started with."""
    import yaml

    data = config_to_dict(cfg)
    data["redis"]["url"] = redis_url
    path = folder / "config.yaml"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        yaml.safe_dump(data, f, sort_keys=False)
    return path


def ui_command(config_path: Path, log_level: str) -> list[str]:
    """The web console child's command line (the ``mctrack ui`` subcommand of this Python's tracker)."""
    return [sys.executable, "-m", "tracker", "--log-level", log_level, "ui", "--config", str(config_path)]


def _child_main(spec: ChildSpec, cfg: Config, redis_url: str | None, log_level: str, stop: Any) -> None:
    """Entry point of a child process (spawned)."""
    from tracker.telemetry.logs import set_camera_id, setup_logging

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the supervisor decides

    def on_term(*_: object) -> None:
        if stop.is_set():  # a second SIGTERM (the supervisor gave up waiting): leave now
            os._exit(_SIGTERM_EXIT)
        stop.set()

    signal.signal(signal.SIGTERM, on_term)
    setup_logging(log_level)
    set_camera_id(spec.name)
    if spec.kind == KIND_HUB:
        from tracker.hub.runner import HubOutcome, HubRunOptions, run_hub

        result = run_hub(cfg, HubRunOptions(redis_url=redis_url, metrics_port=spec.metrics_port), stop)
        # another hub holding the lock may go away: exit 1 (restarted with backoff), not 2 (a user error)
        code = EXIT_ERROR if result.outcome is HubOutcome.LOCK_HELD else result.exit_code
    else:
        from tracker.service.worker import run_worker

        code = run_worker(cfg, spec.name, spec.source, redis_url=redis_url, fps=spec.fps, stop=stop,
                          metrics_port=spec.metrics_port).exit_code
    sys.exit(code)


@dataclass
class _Child:
    spec: ChildSpec
    proc: Any = None
    stop: Any = None
    state: str = "pending"            # pending | running | backoff | failed | stopped
    started_mono: float = 0.0
    next_start_mono: float = 0.0
    attempt: int = 0
    restarts: collections.deque[float] = field(default_factory=collections.deque)  # start times (monotonic s)
    total_restarts: int = 0
    last_exit: int | None = None
    last_reason: str = ""
    seen_running: bool = False
    last_updated_at: float = 0.0
    last_progress_mono: float = 0.0

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def view(self) -> dict[str, Any]:
        return {"pid": self.pid, "state": self.state, "restarts": self.total_restarts, "last_exit": self.last_exit,
                "last_reason": self.last_reason, "updated_at": time.time()}


class Supervisor:
    """Runs and watches the children (see the module docstring).

    Args:
        cfg: full configuration (cameras, supervisor, worker, redis, metrics).
        redis_url: overrides ``redis.url``; both empty -> one embedded Redis for everyone.
        only: run only these children (camera names and/or ``hub``).
        log_level: children's log level.
    """

    def __init__(self, cfg: Config, redis_url: str | None = None, *, only: list[str] | None = None,
                 log_level: str = "INFO") -> None:
        specs = child_specs(cfg, only)
        workers = sum(spec.kind == KIND_WORKER for spec in specs)
        cfg = with_detector_threads_for(cfg, workers)  # camera processes share this machine's cores
        if workers > 1:
            logger.info("%d camera workers: detector.num_threads = %d each", workers, cfg.detector.num_threads)
        self.cfg = cfg
        self.scfg = cfg.supervisor
        self.redis_url = redis_url or cfg.redis.url
        self.log_level = log_level
        self.children = [_Child(spec) for spec in specs]
        self.keys = HeartbeatKeys(cfg.redis.key_prefix)
        self._ctx = mp.get_context("spawn")
        self._rng = random.Random()
        self._handle: Any = None
        self._client: Any = None
        self._last_redis_try = -float("inf")
        self._redis_ok = False
        self.metrics = ProcessMetrics("supervisor")
        self.readiness = Readiness()
        self._server: MetricsServer | None = None
        self._child_config_dir: Path | None = None  # the command-line children's config file (start_ui)

    # ------------------------------------------------------------------------------------------------ redis
    def _open_redis(self) -> None:
        from tracker.bus.connection import RedisUnavailableError, connect

        if not self.redis_url and self.cfg.redis.mode == "standalone":  # sentinel: no URL needed
            self._handle = connect(self.cfg.redis)  # embedded: must work now (raises otherwise)
            self.redis_url = self._handle.child_url
            self._client = self._handle.client
            logger.info("supervisor started one embedded Redis for all processes: %s", self._handle.display_url)
            return
        try:
            self._handle = connect(self.cfg.redis, self.redis_url)
            self._client = self._handle.client
        except RedisUnavailableError as exc:
            logger.warning("%s; children start anyway (workers buffer until Redis is reachable)", exc)

    def _redis(self) -> Any:
        if self._client is None and time.monotonic() - self._last_redis_try >= _REDIS_RETRY_S:
            self._last_redis_try = time.monotonic()
            from tracker.bus.connection import RedisUnavailableError, connect

            try:
                self._handle = connect(self.cfg.redis, self.redis_url)
                self._client = self._handle.client
            except RedisUnavailableError as exc:
                logger.debug("supervisor: Redis still unreachable: %s", exc)
        return self._client

    # ------------------------------------------------------------------------------------------------ children
    def _start(self, child: _Child) -> None:
        if child.spec.kind == KIND_UI:
            child.proc = CommandProcess(ui_command(self._child_config(), self.log_level))
            child.stop = CommandStop(child.proc)
        else:
            child.stop = self._ctx.Event()
            child.proc = self._ctx.Process(target=_child_main, name=f"mctrack-{child.spec.key}",
                                           args=(child.spec, self.cfg, self.redis_url, self.log_level, child.stop),
                                           daemon=False)
        child.proc.start()
        now = time.monotonic()
        child.started_mono = child.last_progress_mono = now
        child.seen_running = False
        child.last_updated_at = 0.0
        child.state = "running"
        self.metrics.child_up.labels(child=child.spec.key).set(1)
        logger.info("started %s (pid %d)", child.spec.key, child.proc.pid)

    def _child_config(self) -> Path:
        """The effective config for command-line children, written once (see :func:`write_child_config`)."""
        if self._child_config_dir is None:
            self._child_config_dir = Path(tempfile.mkdtemp(prefix="mctrack-run-"))
        path = self._child_config_dir / "config.yaml"
        if not path.exists():
            write_child_config(self.cfg, self.redis_url or "", self._child_config_dir)
        return path

    def _on_exit(self, child: _Child, code: int | None, reason: str) -> None:
        now = time.monotonic()
        child.last_exit = code
        child.last_reason = reason
        self.metrics.child_up.labels(child=child.spec.key).set(0)
        uptime = now - child.started_mono
        if code == 0 and child.spec.kind == KIND_WORKER:
            child.state = "stopped"
            logger.info("%s finished (end of its source)", child.spec.key)
            return
        if code == EXIT_FATAL and child.spec.kind in (KIND_WORKER, KIND_UI):
            child.state = "failed"
            logger.error("%s cannot run (exit code 2: bad config, missing model, unreadable source or unusable "
                         "port; see its log); not restarting it", child.spec.key)
            return
        if uptime >= self.scfg.healthy_after_s:
            child.attempt = 0
        while child.restarts and now - child.restarts[0] > self.scfg.restart_window_s:
            child.restarts.popleft()
        if len(child.restarts) >= self.scfg.max_restarts:
            child.state = "failed"
            logger.error("%s %s; it was restarted %d time(s) in the last %.0f s (supervisor.max_restarts = %d): "
                         "giving up on it, the others keep running", child.spec.key, reason, len(child.restarts),
                         self.scfg.restart_window_s, self.scfg.max_restarts)
            return
        delay = backoff_delay_s(child.attempt, self.scfg.restart_initial_backoff_s,
                                self.scfg.restart_max_backoff_s, self.cfg.source.reconnect_jitter, self._rng)
        child.attempt += 1
        child.state = "backoff"
        child.next_start_mono = now + delay
        logger.warning("%s %s; restarting it in %.1f s", child.spec.key, reason, delay)

    def _check_heartbeat(self, child: _Child, client: Any, now: float) -> str:
        """'' if fine, else why the child counts as hung."""
        raw = client.get(self.keys.alive(child.spec.kind, child.spec.name))
        rec = decode_record(raw) if raw is not None else None
        if rec is not None and rec.pid == child.pid and rec.updated_at != child.last_updated_at:
            child.last_updated_at = rec.updated_at
            child.last_progress_mono = now
            if rec.state != "starting":
                child.seen_running = True
        if not child.seen_running:
            if now - child.started_mono > self.scfg.startup_timeout_s:
                return (f"did not report running within supervisor.startup_timeout_s = "
                        f"{self.scfg.startup_timeout_s:g} s")
            return ""
        if now - child.last_progress_mono > self.scfg.hung_after_s:
            return f"heartbeat stale for {now - child.last_progress_mono:.1f} s (supervisor.hung_after_s = " \
                   f"{self.scfg.hung_after_s:g})"
        return ""

    def check(self) -> None:
        """One supervision round: reap, detect hangs, restart due children, publish the view."""
        now = time.monotonic()
        client = self._redis()
        redis_ok = False
        if client is not None:
            try:
                client.ping()
                redis_ok = True
            except Exception as exc:  # unreachable: no hang judgement this round
                logger.debug("supervisor: Redis unreachable: %s", exc)
        if redis_ok and not self._redis_ok:
            for child in self.children:  # fresh grace period after an outage (nobody could beat)
                child.last_progress_mono = max(child.last_progress_mono, now)
        self._redis_ok = redis_ok
        for child in self.children:
            if child.state == "running":
                code = child.proc.exitcode
                if code is not None:
                    child.proc.join()
                    self._on_exit(child, code, f"exited with code {code}" if code >= 0 else
                                  f"was killed by signal {-code}")
                    continue
                if redis_ok and child.spec.kind != KIND_UI:  # the web console writes no heartbeat
                    try:
                        hung = self._check_heartbeat(child, client, now)
                    except Exception as exc:
                        logger.debug("supervisor: heartbeat read failed: %s", exc)
                        hung = ""
                    if hung:
                        logger.error("%s (pid %s) is hung: %s; killing it", child.spec.key, child.pid, hung)
                        child.proc.kill()
                        child.proc.join(self.scfg.stop_timeout_s)
                        self._on_exit(child, child.proc.exitcode, f"was hung ({hung})")
            elif child.state == "backoff" and now >= child.next_start_mono:
                child.restarts.append(now)
                child.total_restarts += 1
                self.metrics.child_restarts.labels(child=child.spec.key).inc()
                self._start(child)
        ready = all(c.state in ("running", "stopped") for c in self.children)
        self.readiness.set(ready, "ok" if ready else ", ".join(f"{c.spec.key} {c.state}" for c in self.children
                                                              if c.state not in ("running", "stopped")))
        self.metrics.ready.set(1 if ready else 0)
        if redis_ok:
            try:
                client.hset(self.keys.supervisor(), mapping={c.spec.key: json.dumps(c.view()) for c in self.children})
            except Exception as exc:
                logger.debug("supervisor: cannot write its view: %s", exc)

    def _choose_reid_path(self) -> None:
        """Measure this machine's Re-ID path once here (reid.backend/precision auto) if it is not cached yet, so the
        camera processes read it from the cache instead of each waiting for it within startup_timeout_s."""
        if self.cfg.reid.enabled and any(c.spec.kind == KIND_WORKER for c in self.children):
            from tracker.models.reid.autoselect import resolve_reid_path

            choice = resolve_reid_path(self.cfg.reid)
            logger.info("camera workers' Re-ID path: %s (%s)", choice.path.label, choice.source)

    def run(self, stop: threading.Event) -> int:
        """Start everything and supervise until ``stop`` is set or no child is left to run.

        Returns 0 after a stop request or when every worker finished its source, 1 when children failed.
        """
        self._open_redis()
        self._choose_reid_path()
        if self.cfg.metrics.port:
            self._server = MetricsServer(self.metrics, self.readiness, self.cfg.metrics.host,
                                         self.cfg.metrics.port).start()
        try:
            logger.info("supervising %s (Redis %s)", ", ".join(c.spec.key for c in self.children),
                        redact(self.redis_url))
            for child in self.children:
                self._start(child)
            while not stop.is_set():
                self.check()
                if all(c.state in ("failed", "stopped") for c in self.children if c.spec.kind == KIND_WORKER) \
                        and any(c.spec.kind == KIND_WORKER for c in self.children):
                    logger.info("no camera worker left to run")
                    break
                stop.wait(self.scfg.check_interval_s)
            failed = [c.spec.key for c in self.children if c.state == "failed"]
            return 1 if failed else 0
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        """Stop every child: stop event, join with timeout, SIGTERM, SIGKILL; then the embedded Redis."""
        running = [c for c in self.children if c.proc is not None and c.proc.exitcode is None]
        for c in running:
            c.stop.set()
        deadline = time.monotonic() + self.scfg.stop_timeout_s
        for c in running:
            c.proc.join(max(0.0, deadline - time.monotonic()))
        for sig_name, action in (("SIGTERM", "terminate"), ("SIGKILL", "kill")):
            late = [c for c in running if c.proc.exitcode is None]
            if not late:
                break
            logger.warning("%s did not stop within %.0f s: sending %s", ", ".join(c.spec.key for c in late),
                           self.scfg.stop_timeout_s, sig_name)
            for c in late:
                getattr(c.proc, action)()
            deadline = time.monotonic() + self.scfg.stop_timeout_s
            for c in late:
                c.proc.join(max(0.0, deadline - time.monotonic()))
        for c in self.children:
            if c.state in ("running", "backoff"):
                c.state = "stopped"
            self.metrics.child_up.labels(child=c.spec.key).set(0)
        if self._client is not None:
            try:
                self._client.hset(self.keys.supervisor(),
                                  mapping={c.spec.key: json.dumps(c.view()) for c in self.children})
            except Exception as exc:
                logger.debug("supervisor: cannot write its final view: %s", exc)
        if self._handle is not None:
            self._handle.close()
            self._handle = None
            self._client = None
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._child_config_dir is not None:
            shutil.rmtree(self._child_config_dir, ignore_errors=True)
            self._child_config_dir = None
        logger.info("supervisor stopped")

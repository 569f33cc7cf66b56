"""A real RTSP server for tests: gst-rtsp-server (GStreamer) in a subprocess.

The server runs under Debian's ``/usr/bin/python3`` (it has PyGObject; the project venv does not), started by
this same file (``python3 tests/rtsp_server.py --port ...``). It serves H.264 (x264, zero-latency) at
``rtsp://127.0.0.1:PORT/NAME``, either a video file played in a loop or a ``videotestsrc`` pattern at a given
resolution and frame rate, optionally behind HTTP basic authentication. Each client gets its own pipeline, so
its stream starts with a key frame.

Test-side use (venv python)::

    with RtspServer(pattern="ball", width=320, height=240, fps=15) as server:
        url = server.url
        server.stop(); server.start()              # kill and bring back on the same port
        server.restart(width=640, height=480)      # ... with another resolution
        server.pause(); server.resume()            # SIGSTOP / SIGCONT: the stream stalls, then the process lives on

System packages: ``.ci/install-system-deps.sh``. :func:`gst_rtsp_unavailable` says why the server cannot run
(tests skip with that reason).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

SYSTEM_PYTHON = "/usr/bin/python3"
READY_PREFIX = "RTSP-SERVER-READY port="
HOST = "127.0.0.1"
REQUIRED_ELEMENTS = ("videotestsrc", "videoconvert", "videoscale", "videorate", "x264enc", "rtph264pay",
                     "intervideosrc", "intervideosink", "decodebin", "filesrc")
_STARTUP_TIMEOUT_S = 20.0
_PORT_POLL_S = 0.05
_KILL_WAIT_S = 5.0

_PROBE = f"""
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstRtspServer
Gst.init(None)
missing = [e for e in {REQUIRED_ELEMENTS!r} if Gst.ElementFactory.find(e) is None]
print("missing GStreamer elements: " + ", ".join(missing) if missing else "ok")
"""


def gst_rtsp_unavailable() -> str:
    """Why the RTSP test server cannot run here ("" if it can)."""
    if not Path(SYSTEM_PYTHON).is_file():
        return f"{SYSTEM_PYTHON} not found (the RTSP test server needs Debian's python3 with python3-gi)"
    try:
        probe = subprocess.run([SYSTEM_PYTHON, "-c", _PROBE], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run {SYSTEM_PYTHON}: {exc}"
    out = probe.stdout.strip()
    if probe.returncode != 0 or out != "ok":
        detail = out or probe.stderr.strip().splitlines()[-1:] or ["unknown error"]
        return (f"gst-rtsp-server is not usable ({detail if isinstance(detail, str) else detail[0]}); "
                f"install the system packages with .ci/install-system-deps.sh")
    return ""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class RtspServer:
    """Controls one gst-rtsp-server subprocess (see the module docstring).

    Args:
        video: a video file to serve in a loop (decoded by GStreamer); None -> a ``videotestsrc`` pattern.
        pattern: videotestsrc pattern name (ball, smpte, snow, ...).
        width, height, fps: output size and rate (a video is scaled / re-timed to them; 0 = keep the video's).
        name: mount path (``rtsp://host:port/NAME``).
        port: TCP port; 0 = a free one, kept across restarts.
        user, password: enable basic authentication with these credentials.
    """

    def __init__(self, video: str | os.PathLike[str] | None = None, *, pattern: str = "ball", width: int = 320,
                 height: int = 240, fps: int = 15, name: str = "cam", port: int = 0, user: str = "",
                 password: str = "") -> None:
        self.video = Path(video) if video is not None else None
        self.pattern, self.width, self.height, self.fps = pattern, width, height, fps
        self.name, self.port, self.user, self.password = name, port or free_port(), user, password
        self._proc: subprocess.Popen[str] | None = None
        self._log_file: IO[str] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        cred = f"{self.user}:{self.password}@" if self.user else ""
        return f"rtsp://{cred}{HOST}:{self.port}/{self.name}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _command(self) -> list[str]:
        cmd = [SYSTEM_PYTHON, str(Path(__file__).resolve()), "--port", str(self.port), "--name", self.name,
               "--width", str(self.width), "--height", str(self.height), "--fps", str(self.fps),
               "--pattern", self.pattern]
        if self.video is not None:
            cmd += ["--video", str(self.video)]
        if self.user:
            cmd += ["--user", self.user, "--password", self.password]
        return cmd

    def start(self, timeout_s: float = _STARTUP_TIMEOUT_S) -> RtspServer:
        """Start the server and wait until it reports ready and its port accepts connections."""
        if self._proc is not None and self._proc.poll() is None:
            return self
        self._proc = subprocess.Popen(self._command(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                      env={**os.environ, "GST_DEBUG": os.environ.get("GST_DEBUG", "1")})
        assert self._proc.stdout is not None
        deadline = time.monotonic() + timeout_s
        lines: list[str] = []
        while True:
            line = self._proc.stdout.readline()
            if not line:
                self._proc.wait(_KILL_WAIT_S)
                raise RuntimeError(f"RTSP server exited with code {self._proc.returncode} before it was ready:\n"
                                   + "".join(lines[-20:]))
            lines.append(line)
            if line.startswith(READY_PREFIX):
                break
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("RTSP server did not start in time:\n" + "".join(lines[-20:]))
        # keep draining its output so the pipe never fills up and blocks the server
        self._drain(self._proc.stdout)
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((HOST, self.port), timeout=1.0):
                    break
            except OSError:
                time.sleep(_PORT_POLL_S)
        else:
            self.stop()
            raise RuntimeError(f"RTSP server port {self.port} does not accept connections")
        self.starts += 1
        return self

    @staticmethod
    def _drain(stream: IO[str]) -> None:
        import threading

        def run() -> None:
            for _ in stream:
                pass

        threading.Thread(target=run, name="rtsp-server-output", daemon=True).start()

    def stop(self) -> None:
        """Kill the server (SIGKILL, like a crash or power loss); resumes it first if paused."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGCONT)
        proc.kill()
        proc.wait(_KILL_WAIT_S)

    def restart(self, **changes: Any) -> RtspServer:
        """Kill and start again on the same port; ``changes`` update width/height/fps/pattern/video/..."""
        self.stop()
        for key, value in changes.items():
            if not hasattr(self, key) or key in ("port",):
                raise TypeError(f"restart: unknown setting {key!r}")
            setattr(self, key, Path(value) if key == "video" and value is not None else value)
        return self.start()

    def pause(self) -> None:
        """SIGSTOP the server: connections stay open but no data flows (a stalled camera)."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT a paused server."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGCONT)

    def __enter__(self) -> RtspServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ----------------------------------------------------------------------------------------------------------------
# the server process (runs under /usr/bin/python3 with PyGObject)


def _serve(argv: list[str]) -> int:  # pragma: no cover - runs in the subprocess
    import argparse

    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    parser = argparse.ArgumentParser(description="RTSP test server (gst-rtsp-server)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", default="cam")
    parser.add_argument("--video", default="")
    parser.add_argument("--pattern", default="ball")
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--user", default="")
    parser.add_argument("--password", default="")
    args = parser.parse_args(argv)
    Gst.init(None)

    encoder = (f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={max(1, args.fps)} bitrate=2000 "
               f"! video/x-h264,profile=constrained-baseline ! rtph264pay name=pay0 pt=96 config-interval=1")
    raw_caps = f"video/x-raw,format=I420,width={args.width},height={args.height},framerate={args.fps}/1"

    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_shared(False)
    feeder = None
    if args.video:
        # one looping decoder at the file's pace feeds every client through an inter-pipeline channel
        feeder = Gst.parse_launch(
            f"filesrc location=\"{args.video}\" ! decodebin ! videoconvert ! videoscale ! videorate ! {raw_caps} "
            f"! intervideosink channel={args.name} sync=true")

        def on_eos(*_: Any) -> None:
            feeder.seek_simple(Gst.Format.TIME, Gst.SeekFlags.FLUSH | Gst.SeekFlags.KEY_UNIT, 0)

        bus = feeder.get_bus()
        bus.add_signal_watch()
        bus.connect("message::eos", on_eos)
        feeder.set_state(Gst.State.PLAYING)
        factory.set_launch(f"( intervideosrc channel={args.name} ! {raw_caps} ! {encoder} )")
    else:
        factory.set_launch(f"( videotestsrc is-live=true pattern={args.pattern} ! {raw_caps} ! {encoder} )")

    server = GstRtspServer.RTSPServer()
    server.set_address(HOST)
    server.set_service(str(args.port))
    if args.user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "user")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_permission_for_role("user", "media.factory.access", True)
        permissions.add_permission_for_role("user", "media.factory.construct", True)
        factory.set_permissions(permissions)
    server.get_mount_points().add_factory(f"/{args.name}", factory)
    if server.attach(None) == 0:
        print(f"cannot listen on {HOST}:{args.port}", flush=True)
        return 1
    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    print(f"{READY_PREFIX}{server.get_bound_port()}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(_serve(sys.argv[1:]))

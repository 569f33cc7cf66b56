"""``supervisor.start_ui``: the web console as a command-line child of ``mctrack run`` (its spec, its private
config file, the process wrapper the supervisor drives). Running it for real: tests/system/test_snapshots.py."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

from tracker.config import ConfigError, load_config
from tracker.service.command_child import CommandProcess, CommandStop
from tracker.service.supervisor import child_specs, ui_command, write_child_config


def test_the_web_console_is_a_child_only_when_asked() -> None:
    cams = "cameras=[{name: a, source: x.mp4}]"
    assert [s.kind for s in child_specs(load_config(None, [cams]))] == ["hub", "worker"]
    specs = child_specs(load_config(None, [cams, "supervisor.start_ui=true"]))
    assert [(s.kind, s.name, s.metrics_port) for s in specs][-1] == ("ui", "ui", 0)
    assert [s.name for s in child_specs(load_config(None), only=["ui"])] == ["ui"]  # --only ui: alone
    assert [s.name for s in child_specs(load_config(None, [cams, "supervisor.start_ui=true"]), only=["a"])] == ["a"]
    with pytest.raises(ConfigError, match="'hub' or 'ui'"):
        child_specs(load_config(None, [cams]), only=["nope"])


def test_child_config_is_the_effective_config_with_the_redis_url_readable_by_the_owner_only(tmp_path: Path) -> None:
    cfg = load_config(None, ["cameras=[{name: a, source: x.mp4, fps: 5}]", "hub.match_threshold=0.45",
                             "supervisor.start_ui=true"])
    path = write_child_config(cfg, "unix:///tmp/x/redis.socket", tmp_path)
    assert path.stat().st_mode & 0o777 == 0o600
    back = load_config(str(path))
    assert back.redis.url == "unix:///tmp/x/redis.socket"
    assert back.hub.match_threshold == 0.45 and back.cameras[0].fps == 5.0 and back.supervisor.start_ui
    argv = ui_command(path, "DEBUG")
    assert argv[0] == sys.executable and argv[1:] == ["-m", "tracker", "--log-level", "DEBUG", "ui", "--config",
                                                      str(path)]


def test_command_process_reports_like_a_multiprocessing_process_and_stops_on_sigterm() -> None:
    proc = CommandProcess([sys.executable, "-c", "import time; time.sleep(60)"])
    assert proc.exitcode is None and proc.pid is None
    proc.start()
    stop = CommandStop(proc)
    assert proc.pid is not None and proc.exitcode is None
    stop.set()
    proc.join(10)
    assert stop.is_set() and proc.exitcode == -signal.SIGTERM
    done = CommandProcess([sys.executable, "-c", "raise SystemExit(2)"])
    done.start()
    done.join(10)
    assert done.exitcode == 2
    done.kill()  # already gone: nothing to do

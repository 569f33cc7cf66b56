"""Prometheus metrics and the /healthz readiness endpoint over real HTTP."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tracker.hub.monitor import ObservedLatencies
from tracker.telemetry.metrics import (
    METRIC_HELP,
    MetricsServer,
    ProcessMetrics,
    Readiness,
)

pytestmark = pytest.mark.timeout(30)

ALLOWED_LABELS = {"camera", "stage", "process", "child", "le"}


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def served() -> tuple[ProcessMetrics, Readiness, MetricsServer]:
    metrics, readiness = ProcessMetrics("test"), Readiness()
    server = MetricsServer(metrics, readiness, "127.0.0.1", 0).start()
    yield metrics, readiness, server
    server.close()


def test_metrics_endpoint_serves_every_family_with_bounded_labels(served) -> None:
    metrics, _, server = served
    metrics.add_total(metrics.frames_in, 10, camera="cam1")
    metrics.add_total(metrics.frames_in, 25, camera="cam1")
    metrics.add_total(metrics.frames_in, 25, camera="cam1")  # unchanged total: no increment
    metrics.stage_latency.labels(camera="cam1", stage="detect").observe(0.03)
    metrics.active_tracks.labels(camera="cam1").set(4)
    metrics.global_identities.set(7)
    metrics.outbox_depth.labels(process="worker:cam1").set(3)
    code, text = _get(f"http://127.0.0.1:{server.port}/metrics")
    assert code == 200
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name in METRIC_HELP:  # every documented metric is exposed
        base = name.removesuffix("_total")
        assert base in families, name
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    assert samples[("mctrack_frames_in_total", (("camera", "cam1"),))] == 25
    assert samples[("mctrack_active_tracks", (("camera", "cam1"),))] == 4
    assert samples[("mctrack_global_identities", ())] == 7
    assert samples[("mctrack_stage_latency_seconds_count", (("camera", "cam1"), ("stage", "detect")))] == 1
    labels = {k for f in families.values() for s in f.samples for k in s.labels}
    assert labels <= ALLOWED_LABELS, f"unexpected labels {labels - ALLOWED_LABELS} (no track/identity ids)"


def test_healthz_follows_readiness_and_unknown_paths_are_404(served) -> None:
    _, readiness, server = served
    base = f"http://127.0.0.1:{server.port}"
    code, body = _get(base + "/healthz")
    assert (code, body.strip()) == (503, "starting")
    readiness.set(True)
    assert _get(base + "/healthz") == (200, "ok\n")
    readiness.set(False, "source down: cannot open the stream")
    code, body = _get(base + "/healthz")
    assert code == 503 and "source down" in body
    assert _get(base + "/nope")[0] == 404


def test_busy_port_gives_a_clear_error(served) -> None:
    _, _, server = served
    with pytest.raises(OSError, match="metrics.port"):
        MetricsServer(ProcessMetrics("x"), Readiness(), "127.0.0.1", server.port)


def test_hub_latency_reservoir_feeds_the_histogram() -> None:
    metrics = ProcessMetrics("hub")
    latencies = ObservedLatencies(metrics.hub_latency, maxlen=3)
    latencies.extend([5.0, 20.0, 1500.0, 40.0])  # milliseconds
    assert list(latencies) == [20.0, 1500.0, 40.0]  # bounded like the hub's deque
    text = metrics.exposition().decode()
    count = [s.value for f in text_string_to_metric_families(text) for s in f.samples
             if s.name == "mctrack_hub_assignment_latency_seconds_count"]
    total = [s.value for f in text_string_to_metric_families(text) for s in f.samples
             if s.name == "mctrack_hub_assignment_latency_seconds_sum"]
    assert count == [4] and total[0] == pytest.approx(1.565)

"""`mctrack bench` with the real models on a short clip: the figures are there (no timing asserts)."""

from __future__ import annotations

import json
import os

from live_helpers import make_clip
from paths import EPFL

from tracker.cli import main
from tracker.models.cpu_features import INFERENCE_FLAGS


def test_bench_times_detector_and_pipeline_in_alternating_blocks(tmp_path, dev_dir, model_overrides, capsys):
    clip = make_clip(dev_dir, tmp_path / "clip.mp4", 20)
    sets = sum((["--set", s] for s in model_overrides), [])
    rc = main(["bench", "--video", str(clip), "--frames", "20", "--block-frames", "8", "--json",
               *sets])
    assert rc == 0
    out = capsys.readouterr().out
    res = json.loads(out)  # stdout is the JSON object alone (Ultralytics' own messages go to the log, on stderr)
    assert res["frames"] == 20 and res["block_frames"] == 8
    assert res["detector_only_fps"] > 0 and res["pipeline_fps"] > 0
    assert res["ratio"] == res["pipeline_fps"] / res["detector_only_fps"]
    assert {"decode", "detect", "reid", "associate", "publish", "total"} <= set(res["stages_ms"])
    assert "fitted to the frame's aspect" in res["detector"]
    # what ran, so figures from different machines compare
    assert res["cpu"]["model"] and res["cpu"]["logical_cpus"] >= 1 and isinstance(res["cpu"]["flags"], list)
    assert set(res["cpu"]["flags"]) <= set(INFERENCE_FLAGS)
    assert res["detector_path"]["engine"] == "openvino" and res["detector_path"]["precision"] == "int8"
    reid = res["reid_path"]
    assert reid["engine"] in ("onnxruntime", "openvino") and reid["precision"] in ("f32", "bf16", "int8")
    assert reid["chosen_by"] in ("measured", "cache") and reid["reason"]  # reid.backend auto by default
    assert reid["bound"] == {"median_min": 0.99, "p05_min": 0.97}
    assert reid["model"] == "osnet_x0_25_msmt17"  # the weights' stem (model_overrides: OSNet), not an arch name
    assert res["reid_backend"].startswith(f"{reid['engine']}/{reid['precision']}/")
    chosen = [c for c in reid["candidates"] if c["path"] == res["reid_backend"]]
    assert len(chosen) == 1 and chosen[0]["ms_per_crop"] > 0 and not chosen[0]["error"]
    assert res["reid_ms_per_frame"] >= 0


def test_bench_reports_a_fixed_reid_path_and_its_agreement_when_measured(tmp_path, dev_dir, model_overrides,
                                                                           capsys):
    """An explicit reduced precision is checked against f32 on the calibration crops; the text report names the
    CPU, its flags and both paths."""
    clip = make_clip(dev_dir, tmp_path / "clip.mp4", 6)
    sets = sum((["--set", s] for s in [*model_overrides, "reid.backend=openvino", "reid.precision=bf16",
                                       f"reid.calibration_source={EPFL / 'c0'}", "reid.calibration_frames=4",
                                       "reid.select_budget_s=0.5"]), [])
    assert main(["bench", "--video", str(clip), "--frames", "6", "--block-frames", "3", "--no-publish",
                 "--reselect-reid", *sets]) == 0
    out = capsys.readouterr().out
    assert "cpu: " in out and "detector path : openvino int8" in out
    # --reselect-reid measured and cached the path; the bench's models then took it from the cache
    assert "re-id path    : openvino/bf16/1t (cache: " in out and "cosine to f32 median 0.9" in out
    assert "candidate openvino/bf16/1t" in out


def test_multi_camera_bench_runs_camera_processes_through_the_hub(tmp_path, dev_dir, model_overrides):
    """Two worker processes and the hub on one short clip. The measurement window is capped to end before the clip
    does (a file that has ended is not a camera falling behind). No timing asserts: whether cameras keep up is a
    benchmark figure."""
    from tracker.bench.multi import _clip_frames, run_multi_camera_bench
    from tracker.config import load_config

    clip = make_clip(dev_dir, tmp_path / "clip.mp4", 90)
    cfg = load_config(None, model_overrides)
    assert _clip_frames(cfg, str(clip)) == 90
    assert _clip_frames(cfg, "rtsp://127.0.0.1:1/x") == 0  # live: not probed
    res = run_multi_camera_bench(cfg, str(clip), cameras=2, rate=2.0, duration_s=120.0, overrides=model_overrides)
    assert res.cameras == 2 and len(res.per_camera) == 2
    assert 0 < res.duration_s < 90 / 2.0  # capped: the clip plays for 45 s (slow starts on a loaded machine fit)
    assert res.detector_threads == max(1, (os.cpu_count() or 1) // 2)
    for cam in res.per_camera:
        assert cam["fps"] > 0 and cam["offered_fps"] > 0 and cam["dropped"] >= 0
    assert res.aggregate_fps == sum(c["fps"] for c in res.per_camera)

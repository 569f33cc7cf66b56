"""`mctrack bench` with the real models on a short clip: the figures are there (no timing asserts)."""

from __future__ import annotations

import json

from live_helpers import make_clip
from tracker.cli import main


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

"""``mctrack bench``: throughput figures (detector alone vs full pipeline, per-stage latency, memory).

JSON keys (``--json``): ``video``, ``frames``, ``detector_only_fps``, ``pipeline_fps``, ``ratio``
(pipeline / detector-only), ``stages_ms`` (stage -> {median, p95}; stages decode, clahe, detect, reid,
associate, publish, total), ``peak_rss_mb``, ``detector``, ``reid_backend``, ``mean_detections_per_frame``,
``mean_tracks_per_frame``, ``block_frames`` (detector-only and pipeline alternate in blocks of this many frames),
``cpu`` (model, flags: the ISA extensions found among avx2 ... amx_int8, logical_cpus), ``detector_path`` (engine,
precision, streams, input_hw, threads), ``reid_path`` (engine, precision, threads, model, chosen_by: config /
measured / cache, reason, bound, agreement_with_f32: the chosen path's cosine to f32 on real crops, candidates: each
measured path's ms_per_crop and agreement), ``reid_ms_per_frame``; with ``--cameras N`` also ``multi_camera`` (see
tracker/bench/multi.py).
"""

from __future__ import annotations

import argparse
import json

from tracker.cli.common import add_config_args, config_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="benchmark: detector-only vs full-pipeline fps, per-stage ms, memory")
    p.add_argument("--video", required=True, help="video file (or image folder) to benchmark on")
    add_config_args(p)
    p.add_argument("--frames", type=int, default=0, help="frames to use (0 = all)")
    p.add_argument("--block-frames", type=int, default=None,
                   help="detector-only and pipeline are timed in alternating blocks of this many frames "
                        "(default 50; 0 = detector-only over the whole clip first, then the pipeline)")
    p.add_argument("--no-publish", action="store_true", help="leave out publishing to the hub's Redis")
    p.add_argument("--cameras", type=int, default=0,
                   help="also run N camera processes replaying the video through the hub")
    p.add_argument("--rate", type=float, default=7.0, help="real-time rate each camera must keep up with")
    p.add_argument("--duration", type=float, default=60.0,
                   help="seconds measured in the multi-camera run (shortened, with a warning, to end 2 s before a "
                        "recorded clip does)")
    p.add_argument("--reselect-reid", action="store_true",
                   help="measure the Re-ID path choice again (reid.backend/precision auto) instead of using the cached "
                        "one for this machine")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tracker.bench.single import BLOCK_FRAMES, run_single_camera_bench

    cfg = config_from_args(args)
    if args.reselect_reid and cfg.reid.enabled:
        from tracker.models.reid.autoselect import resolve_reid_path

        resolve_reid_path(cfg.reid, reselect=True)  # re-measured and cached; the bench's models then use it
    block = BLOCK_FRAMES if args.block_frames is None else args.block_frames
    res = run_single_camera_bench(cfg, args.video, args.frames, publish=not args.no_publish, block_frames=block)
    out = res.to_dict()
    if args.cameras > 0:
        from tracker.bench.multi import run_multi_camera_bench

        out["multi_camera"] = run_multi_camera_bench(cfg, args.video, args.cameras, args.rate,
                                                     args.duration, config_path=args.config,
                                                     overrides=list(args.set)).to_dict()
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"cpu: {res.cpu['model']} ({res.cpu['logical_cpus']} CPUs; {' '.join(res.cpu['flags']) or 'no AVX2+'}"
          f"{'; capped by ONEDNN_MAX_CPU_ISA=' + res.cpu['isa_cap'] if res.cpu.get('isa_cap') else ''})")
    det = res.detector_path
    print(f"video: {res.video} ({res.frames} frames)   detector: {res.detector}")
    print(f"detector path : {det.get('engine')} {det.get('precision', '')}, {det.get('streams', 1)} streams, "
          f"threads {det.get('threads') or 'default'}")
    rp = res.reid_path
    agree = rp.get("agreement_with_f32")
    print(f"re-id path    : {res.reid_backend} ({rp.get('chosen_by', '-')}: {rp.get('reason', '-')})"
          + (f"; cosine to f32 median {agree['median']:.4f}, p05 {agree['p05']:.4f}" if agree else ""))
    for cand in rp.get("candidates", []):
        ms = "failed" if cand["ms_per_crop"] is None else f"{cand['ms_per_crop']:.2f} ms/crop"
        ca = cand["agreement_with_f32"]
        agree_txt = f", cosine median {ca['median']:.4f} p05 {ca['p05']:.4f}" if ca else ""
        error_txt = f" ({cand['error']})" if cand["error"] else ""
        print(f"  candidate {cand['path']:<24} {ms}{agree_txt}{error_txt}")
    print(f"detector only : {res.detector_only_fps:6.1f} fps   (timed in blocks of {res.block_frames} frames "
          f"alternating with the pipeline)")
    print(f"full pipeline : {res.pipeline_fps:6.1f} fps   (ratio {res.ratio:.2f} of detector-only; Re-ID "
          f"{res.reid_ms_per_frame:.2f} ms/frame)")
    print(f"per stage (ms):  {'median':>8} {'p95':>8}")
    for k, v in res.stages_ms.items():
        print(f"  {k:<13} {v['median']:8.2f} {v['p95']:8.2f}")
    print(f"detections/frame {res.mean_detections_per_frame:.1f}, confirmed tracks/frame "
          f"{res.mean_tracks_per_frame:.1f}, peak RSS {res.peak_rss_mb:.0f} MB")
    if "multi_camera" in out:
        mc = out["multi_camera"]
        print(f"multi-camera: {mc['cameras']} cameras at {mc['rate']} fps for {mc['duration_s']:.0f} s "
              f"(detector threads each: {mc['detector_threads'] or 'default'}): aggregate {mc['aggregate_fps']:.1f} "
              f"fps; all kept up: {mc['all_kept_up']}")
        for cam in mc["per_camera"]:
            print(f"  {cam['camera']}: {cam['fps']:.2f} fps processed, {cam['dropped']} dropped, "
                  f"kept up: {cam['kept_up']}")
    return 0

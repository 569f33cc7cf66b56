"""Real data: ground-truth tracklets of pets-s2l1-dev/two-cam with camera-LOCAL ids (cut at every gap, so people
leaving and re-entering get new local ids) and real OSNet embeddings, through publisher + hub on a real Redis.

The hub must (1) give one person one id across the two cameras (cam2 is darker, colour-shifted, noisy), (2) give a
re-entering person their old id back, (3) not make per-camera identity worse. Scores come from
``tracker.offline.evaluation`` (TrackEval), compared with the same tracklets without the hub."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tracker.bus.connection import connect
from tracker.bus.publisher import TrackletPublisher
from tracker.config import load_config
from tracker.core.tracklet import TrackletUpdate
from tracker.hub.consumer import Hub
from tracker.hub.queries import local_to_global
from tracker.models.reid import build_reid_embedder
from tracker.offline.evaluation import evaluate_cameras

CAMERAS = ("cam1", "cam2")
FPS = 7.0
EMBED_EVERY = 5  # frames = hub.embedding_every_s * FPS: only the embeddings the publisher sends are computed
LOCAL_BASE = {"cam1": 1, "cam2": 1001}


def tracklets(gt: np.ndarray, camera: str) -> list[tuple[int, int, int, np.ndarray]]:
    """[(frame, local id, gt id, xyxy)]: each gt track cut at its gaps."""
    out, next_id = [], LOCAL_BASE[camera]
    for gid in np.unique(gt[:, 1]).astype(int):
        rows = gt[gt[:, 1] == gid]
        rows = rows[np.argsort(rows[:, 0])]
        prev, lid = None, None
        for row in rows:
            frame = int(row[0])
            if prev is None or frame != prev + 1:
                lid, next_id = next_id, next_id + 1
            out.append((frame, lid, gid, np.array([row[2], row[3], row[2] + row[4], row[3] + row[5]], np.float32)))
            prev = frame
    return out


@pytest.fixture(scope="module")
def two_cam(dev_dir, reid_weights, reid_cache_dir):
    """Tracklets, embeddings (only where the publisher's cadence sends one) and quality per camera."""
    setup = dev_dir / "two-cam"
    cfg = load_config(None, [f"reid.weights={reid_weights}", f"reid.cache_dir={reid_cache_dir}"])
    embedder = build_reid_embedder(cfg.reid)
    data = {}
    for camera in CAMERAS:
        gt = np.loadtxt(setup / camera / "gt.txt", delimiter=",", ndmin=2)
        tl = tracklets(gt, camera)
        start = {}
        for frame, lid, _, _ in tl:
            start.setdefault(lid, frame)
        need: dict[int, list[int]] = {}
        for i, (frame, lid, _, _) in enumerate(tl):
            if (frame - start[lid]) % EMBED_EVERY == 0:
                need.setdefault(frame, []).append(i)
        emb: dict[int, np.ndarray] = {}
        cap = cv2.VideoCapture(str(setup / camera / "video.mp4"))
        frame = 0
        while True:
            ok, image = cap.read()
            if not ok:
                break
            frame += 1
            rows = need.get(frame, [])
            if rows:
                feats = embedder.embed(image, np.stack([tl[i][3] for i in rows]))
                emb.update(zip(rows, feats))
        cap.release()
        quality = {}
        by_frame: dict[int, list[int]] = {}
        for i, (frame, _, _, _) in enumerate(tl):
            by_frame.setdefault(frame, []).append(i)
        for rows in by_frame.values():  # quality = 1 - largest IoU with another box (the pipeline's rule)
            boxes = np.stack([tl[i][3] for i in rows])
            lt = np.maximum(boxes[:, None, :2], boxes[None, :, :2])
            rb = np.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
            inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
            area = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
            iou = inter / (area[:, None] + area[None] - inter)
            np.fill_diagonal(iou, 0)
            for i, q in zip(rows, 1 - iou.max(axis=1)):
                quality[i] = float(q)
        data[camera] = (gt, tl, emb, quality)
    return data


def score(data: dict, mapping: dict[str, dict[int, int]] | None):
    preds = {}
    for camera, (_, tl, _, _) in data.items():
        preds[camera] = np.array([[f, (mapping[camera][lid] if mapping else lid), *b[:2], *(b[2:] - b[:2]), 1, -1, -1,
                                   -1] for f, lid, _, b in tl], np.float64)
    return evaluate_cameras({c: d[0] for c, d in data.items()}, preds, {c: 400 for c in data})


def test_two_cam_identities_across_cameras_and_reentries(two_cam):
    handle = connect(load_config(None, []).redis)
    try:
        cfg = load_config(None, [f"hub.embedding_every_s={EMBED_EVERY / FPS}", "hub.embedding_quality_gain=1",
                                 "hub.thumbnails_per_track=0"])
        r = handle.client
        pubs = {c: TrackletPublisher(r, cfg, c) for c in CAMERAS}
        hub = Hub(r, cfg, consumer_name="two-cam")
        per_frame = {c: {} for c in CAMERAS}
        for camera, (_, tl, _, _) in two_cam.items():
            for i, (frame, _, _, _) in enumerate(tl):
                per_frame[camera].setdefault(frame, []).append(i)
        for frame in range(1, 401):
            for camera in CAMERAS:
                _, tl, emb, quality = two_cam[camera]
                ups = [TrackletUpdate(camera, tl[i][1], frame, (frame - 1) / FPS, tl[i][3], 1.0, emb.get(i),
                                      quality[i] if i in emb else 0.0) for i in per_frame[camera].get(frame, [])]
                pubs[camera].publish(ups, None, frame_index=frame, timestamp_s=(frame - 1) / FPS)
            hub.step()
        hub.drain()
        mapping = {c: local_to_global(r, cfg, c) for c in CAMERAS}
        hub.close()
    finally:
        handle.close()
    assert all(lid in mapping[c] for c in CAMERAS for _, lid, _, _ in two_cam[c][1])
    without, with_hub = score(two_cam, None), score(two_cam, mapping)
    print(f"\nMTMC-IDF1 {without.mtmc_idf1:.3f} -> {with_hub.mtmc_idf1:.3f}; per camera " +
          ", ".join(f"{c} {without.cameras[c].idf1:.3f} -> {with_hub.cameras[c].idf1:.3f}" for c in CAMERAS))
    assert with_hub.mtmc_idf1 >= without.mtmc_idf1 + 0.2  # the hub links cameras and re-entries
    for camera in CAMERAS:
        assert with_hub.cameras[camera].idf1 >= without.cameras[camera].idf1
    # re-entry: person 9 leaves cam1 at frame 161 and comes back at 243 (new local track): same global id
    tl1 = two_cam["cam1"][1]
    segments = sorted({(f, lid) for f, lid, g, _ in tl1 if g == 9 and f in (17, 243)})
    assert len(segments) == 2 and mapping["cam1"][segments[0][1]] == mapping["cam1"][segments[1][1]]

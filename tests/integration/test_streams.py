"""Video files, image folders, realtime replay and the source factory, on the real PETS dev video."""

from __future__ import annotations

import configparser
import logging
import random
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paths import DEV

from streams import (
    Frame,
    ImageFolderSource,
    LiveSource,
    SourceError,
    VideoFileSource,
    open_source,
)
from streams.backoff import backoff_delay_s
from streams.latest_slot import LatestSlot
from streams.live import ffmpeg_capture_options, validate_stream_url
from tracker.config import SourceConfig

CAM = DEV / "full" / "cam1"
VIDEO = CAM / "video.mp4"
N_IMAGE_FRAMES = 20  # frames copied into the image-folder fixtures


@pytest.fixture(scope="module")
def seqinfo() -> dict[str, str]:
    if not VIDEO.is_file():
        pytest.skip(f"dev data missing: {VIDEO} (the repo expects shared/ beside it)")
    parser = configparser.ConfigParser()
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(CAM / "seqinfo.ini")
    return dict(parser["Sequence"])


@pytest.fixture(scope="module")
def first_frames(seqinfo: dict[str, str]) -> list[np.ndarray]:
    """The first frames of the dev video, decoded independently of streams/."""
    cap = cv2.VideoCapture(str(VIDEO))
    frames = []
    for _ in range(N_IMAGE_FRAMES):
        ok, image = cap.read()
        assert ok
        frames.append(image)
    cap.release()
    return frames


def _write_sequence(root: Path, frames: list[np.ndarray], fps: str, ext: str = ".png") -> Path:
    """A MOTChallenge sequence folder: img1/000001.png ... + seqinfo.ini."""
    (root / "img1").mkdir(parents=True)
    for i, image in enumerate(frames, start=1):
        assert cv2.imwrite(str(root / "img1" / f"{i:06d}{ext}"), image)
    (root / "seqinfo.ini").write_text(f"[Sequence]\nname=test\nimDir=img1\nframeRate={fps}\n"
                                      f"seqLength={len(frames)}\nimExt={ext}\n")
    return root


# ----------------------------------------------------------------------------------------------------------------
# video files


def test_video_file_yields_every_frame_with_media_time(seqinfo: dict[str, str]) -> None:
    n_frames, fps = int(seqinfo["seqLength"]), float(seqinfo["frameRate"])
    with open_source(str(VIDEO), "cam1", SourceConfig()) as source:
        assert isinstance(source, VideoFileSource)
        assert source.fps == fps
        frames = [(f.index, f.timestamp_s, f.image.shape, f.camera_id) for f in source]
        stats = source.stats()
    assert [i for i, *_ in frames] == list(range(1, n_frames + 1))
    assert [t for _, t, *_ in frames] == pytest.approx([(i - 1) / fps for i in range(1, n_frames + 1)])
    assert {shape for _, _, shape, _ in frames} == {(int(seqinfo["imHeight"]), int(seqinfo["imWidth"]), 3)}
    assert {cam for *_, cam in frames} == {"cam1"}
    assert (stats.frames_read, stats.frames_dropped, stats.reconnects, stats.connected) == (n_frames, 0, 0, False)
    assert (stats.width, stats.height) == (int(seqinfo["imWidth"]), int(seqinfo["imHeight"]))


def test_fps_argument_overrides_the_container(seqinfo: dict[str, str]) -> None:
    override = 2 * float(seqinfo["frameRate"])
    with open_source(str(VIDEO), "cam1", SourceConfig(), fps=override) as source:
        assert source.fps == override
        frames = [f for _, f in zip(range(5), source)]
    assert [f.timestamp_s for f in frames] == pytest.approx([i / override for i in range(5)])


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist: check the path"):
        open_source(str(tmp_path / "nope.mp4"), "cam1", SourceConfig())


def test_text_file_named_mp4_is_not_a_readable_video(tmp_path: Path) -> None:
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video\n" * 100)
    with pytest.raises(SourceError, match="is not a readable video"):
        open_source(str(fake), "cam1", SourceConfig())


def test_truncated_file_yields_what_decodes_and_warns(tmp_path: Path, seqinfo: dict[str, str],
                                                      caplog: pytest.LogCaptureFixture) -> None:
    n_frames = int(seqinfo["seqLength"])
    data = VIDEO.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 2 // 5])  # the moov atom is at the front, so the header survives
    caplog.set_level(logging.INFO, logger="streams")
    with open_source(str(cut), "cam1", SourceConfig()) as source:
        indices = [f.index for f in source]
        stats = source.stats()
    assert 0 < len(indices) < n_frames
    assert indices == list(range(1, len(indices) + 1))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"after {len(indices)} of the {n_frames} frames" in m for m in warnings), warnings
    assert "truncated" in stats.last_error and stats.frames_read == len(indices)


def test_realtime_replay_drops_frames_for_a_slow_consumer(seqinfo: dict[str, str]) -> None:
    fps = float(seqinfo["frameRate"])
    slow_step_s = 3.0 / fps  # the consumer needs three frame periods per frame
    steps = 6
    cfg = SourceConfig(realtime=True)
    with open_source(str(VIDEO), "cam1", cfg) as source:
        frames: list[Frame] = []
        for frame in source:
            frames.append(frame)
            if len(frames) == steps:
                break
            time.sleep(slow_step_s)
        stats = source.stats()
        t0 = time.monotonic()
    close_s = time.monotonic() - t0
    indices = [f.index for f in frames]
    assert indices[0] == 1 and all(b > a for a, b in zip(indices, indices[1:]))
    assert indices[-1] - indices[0] > steps  # frames were skipped ...
    assert stats.frames_dropped > 0  # ... and counted
    delivered = len(frames)
    # every decoded frame was delivered, dropped, or is still pending / being paced (at most 2)
    assert delivered + stats.frames_dropped <= stats.frames_read <= delivered + stats.frames_dropped + 2
    assert [f.timestamp_s for f in frames] == pytest.approx([(i - 1) / fps for i in indices])  # media time
    assert close_s < 5.0  # close() stopped the reader thread mid-file


def test_realtime_replay_paces_and_keeps_up_with_a_fast_consumer(tmp_path: Path,
                                                                 first_frames: list[np.ndarray]) -> None:
    seq = _write_sequence(tmp_path / "seq", first_frames, fps="7")
    fps = 50.0
    t0 = time.monotonic()
    with open_source(str(seq), "cam1", SourceConfig(realtime=True), fps=fps) as source:
        indices = [f.index for f in source]
        stats = source.stats()
    elapsed_s = time.monotonic() - t0
    assert indices == list(range(1, len(first_frames) + 1))
    assert stats.frames_dropped == 0
    assert elapsed_s >= (len(first_frames) - 1) / fps  # paced, not as fast as possible


# ----------------------------------------------------------------------------------------------------------------
# image folders


def test_image_folder_sequence_matches_the_video(tmp_path: Path, first_frames: list[np.ndarray]) -> None:
    seq = _write_sequence(tmp_path / "seq", first_frames, fps="7")
    for spec in (seq, seq / "img1"):  # the sequence folder or its img1/ (seqinfo.ini one level up)
        with open_source(str(spec), "camA", SourceConfig()) as source:
            assert isinstance(source, ImageFolderSource)
            assert source.fps == 7.0
            frames = list(source)
            stats = source.stats()
        assert [f.index for f in frames] == list(range(1, len(first_frames) + 1))
        assert [f.timestamp_s for f in frames] == pytest.approx([i / 7.0 for i in range(len(first_frames))])
        assert all(np.array_equal(f.image, ref) for f, ref in zip(frames, first_frames))  # png is lossless
        assert stats.frames_read == len(first_frames) and stats.frames_dropped == 0


def test_image_folder_numeric_names_give_the_index(tmp_path: Path, first_frames: list[np.ndarray]) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    numbers = [5, 7, 10, 100]  # gaps, and 100 sorts before 5 as text
    for n, image in zip(numbers, first_frames):
        cv2.imwrite(str(folder / f"{n}.jpg"), image)
    cfg = SourceConfig(default_fps=10.0)
    with open_source(str(folder), "camA", cfg) as source:
        assert source.fps == cfg.default_fps  # no seqinfo.ini
        frames = list(source)
    assert [f.index for f in frames] == numbers
    assert [f.timestamp_s for f in frames] == pytest.approx([(n - 1) / cfg.default_fps for n in numbers])


def test_image_folder_skips_and_counts_a_corrupt_image(tmp_path: Path, first_frames: list[np.ndarray],
                                                       caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    names = ["a.png", "b.png", "c.png", "d.png"]
    for name, image in zip(names, first_frames):
        cv2.imwrite(str(folder / name), image)
    (folder / "b.png").write_bytes(b"\x89PNG broken")
    caplog.set_level(logging.WARNING, logger="streams")
    with open_source(str(folder), "camA", SourceConfig()) as source:
        indices = [f.index for f in source]
        stats = source.stats()
    assert indices == [1, 3, 4]  # positions; the broken one is skipped
    assert stats.frames_dropped == 1 and stats.frames_read == 3 and "b.png" in stats.last_error
    assert any("b.png" in r.getMessage() for r in caplog.records)


def test_image_folder_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images here")
    with pytest.raises(SourceError, match="holds no images"):
        open_source(str(empty), "camA", SourceConfig())
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "000001.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(SourceError, match="can be read"):
        open_source(str(broken), "camA", SourceConfig())


def test_bad_seqinfo_frame_rate_is_a_clear_error(tmp_path: Path, first_frames: list[np.ndarray]) -> None:
    seq = _write_sequence(tmp_path / "seq", first_frames[:2], fps="fast")
    with pytest.raises(SourceError, match="frameRate = 'fast'"):
        open_source(str(seq), "camA", SourceConfig())


# ----------------------------------------------------------------------------------------------------------------
# factory and live-source plumbing (the real RTSP tests are in test_rtsp.py)


def test_factory_dispatch_and_errors() -> None:
    cfg = SourceConfig()
    for spec, kind in (("0", LiveSource), ("rtsp://cam.local:8554/stream", LiveSource),
                       ("RTSPS://cam.local/s", LiveSource), ("http://cam.local/mjpg", LiveSource)):
        source = open_source(spec, "c", cfg)
        try:
            assert isinstance(source, kind) and source.camera_id == "c"
            assert source.fps == cfg.default_fps  # not connected: nothing reported yet
            assert source.stats().connected is False
        finally:
            source.close()
    with pytest.raises(SourceError, match="source is empty"):
        open_source("  ", "c", cfg)
    with pytest.raises(SourceError, match="unsupported URL scheme 'ftp'"):
        open_source("ftp://host/video.mp4", "c", cfg)
    with pytest.raises(SourceError, match="out of range"):
        open_source(str(VIDEO), "c", cfg, fps=-1)


@pytest.mark.parametrize("url", ["rtsp://admin:Hunter2x@cam.local:99999/s", "rtsp://admin:Hunter2x@/s",
                                 "rtsp://admin:Hunter2x@cam.local:port/s"])
def test_malformed_url_is_fatal_and_redacted(url: str) -> None:
    with pytest.raises(SourceError) as info:
        open_source(url, "c", SourceConfig())
    assert "Hunter2x" not in str(info.value) and "admin:***@" in str(info.value)


def test_missing_webcam_fails_after_the_open_timeout() -> None:
    cfg = SourceConfig(open_timeout_s=0.5, reconnect_initial_backoff_s=0.1, reconnect_max_backoff_s=0.2)
    unused_index = 63
    if Path(f"/dev/video{unused_index}").exists():
        pytest.skip(f"/dev/video{unused_index} exists here")
    t0 = time.monotonic()
    with open_source(str(unused_index), "c", cfg) as source:
        with pytest.raises(SourceError, match="could not be opened within source.open_timeout_s"):
            for _ in source:
                pass
    assert time.monotonic() - t0 >= cfg.open_timeout_s


def test_validate_stream_url_and_ffmpeg_options() -> None:
    assert validate_stream_url("rtsp://u:p@10.0.0.1:554/live") == "rtsp"
    assert validate_stream_url("https://cam/x.mjpg") == "https"
    opts = ffmpeg_capture_options("rtsp_transport;udp|stimeout;5|analyzeduration;9", "tcp", 0.5)
    assert opts.split("|") == ["stimeout;5", "analyzeduration;500000", "rtsp_transport;tcp"]
    assert ffmpeg_capture_options("", None, 1.0) == "analyzeduration;1000000"


@settings(max_examples=200, deadline=None)
@given(attempt=st.integers(0, 200), initial=st.floats(0.01, 10), maximum=st.floats(0.01, 100),
       jitter=st.floats(0, 1), seed=st.integers(0, 2**32 - 1))
def test_backoff_doubles_up_to_the_cap_with_bounded_jitter(attempt: int, initial: float, maximum: float,
                                                           jitter: float, seed: int) -> None:
    base = min(maximum, initial * 2.0 ** min(attempt, 60))
    delay = backoff_delay_s(attempt, initial, maximum, jitter, random.Random(seed))
    assert base * (1 - jitter) - 1e-9 <= delay <= base * (1 + jitter) + 1e-9
    if jitter == 0 and attempt < 10 and initial * 2 ** (attempt + 1) <= maximum:
        assert backoff_delay_s(attempt + 1, initial, maximum, 0.0, random.Random(seed)) == pytest.approx(2 * delay)


def test_latest_slot_keeps_the_newest_and_counts_drops() -> None:
    slot: LatestSlot[int] = LatestSlot()
    assert slot.get(0.0) is None
    assert [slot.put(i) for i in range(5)] == [False, True, True, True, True]
    assert slot.get(0.0) == 4 and slot.dropped == 4
    got: list[int | None] = []
    consumer = threading.Thread(target=lambda: got.append(slot.get(5.0)))
    consumer.start()
    slot.put(7)
    consumer.join(5.0)
    assert got == [7]
    slot.put(8)
    slot.close()
    assert not slot.exhausted and slot.get(0.0) == 8 and slot.exhausted
    assert slot.put(9) is False and slot.get(0.0) is None

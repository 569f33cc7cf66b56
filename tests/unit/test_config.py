import dataclasses
import math
import subprocess
import sys
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from paths import REPO

from tracker.config import (
    Config,
    ConfigError,
    HubConfig,
    KalmanConfig,
    TrackerConfig,
    config_from_dict,
    config_to_dict,
    describe_config,
    load_config,
    render_default_yaml,
    with_detector_threads_for,
)
from tracker.config.mapping import identity_params, kalman_params, tracker_params
from tracker.core.params import KalmanParams, TrackerParams
from tracker.identity.params import CameraLink, IdentityParams
from tracker.identity.scale import REFERENCE_SCALE, AppearanceScale


def test_default_yaml_is_in_sync_with_the_code():
    text = (REPO / "config" / "default.yaml").read_text()
    assert text == render_default_yaml(), "regenerate: mctrack config --defaults > config/default.yaml"
    assert config_to_dict(load_config(REPO / "config" / "default.yaml")) == config_to_dict(Config())


def test_every_field_has_a_description():
    missing = [key for key, _, help_text in describe_config() if not help_text]
    assert missing == []


def test_shipped_configs_validate():
    for path in (REPO / "config").glob("*.yaml"):
        load_config(path)


def test_overrides_are_typed_from_yaml():
    cfg = load_config(None, ["tracker.max_age_s=5", "reid.enabled=false", "detector.weights=/x/y.onnx"])
    assert cfg.tracker.max_age_s == 5.0 and cfg.reid.enabled is False and cfg.detector.weights == "/x/y.onnx"


@pytest.mark.parametrize("override, message", [
    ("tracker.max_cosine_distance=11", "tracker.max_cosine_distance = 11.0 is out of range: allowed 0 <= value <= 10"),
    ("tracker.n_init_frames=0", "allowed 1 <= value <= 1000"),
    ("tracker.n_init_frames=2.5", "tracker.n_init_frames must be an integer"),
    ("reid.enabled=maybe", "reid.enabled must be true or false"),
    ("tracker.max_cosin_distance=0.2", "did you mean 'max_cosine_distance'"),
    ("clahe.detector_input=sometimes", "use one of 'never', 'dark', 'always'"),
    ("nosuchsection.key=1", "unknown key 'nosuchsection'"),
    ("tracker=5", "tracker must be a mapping"),
    ("tracker.max_age_s=.nan", "is not a finite number"),
    ("tracker.new_track_score_threshold=0.2", "must be >= tracker.high_score_threshold"),
    ("justakey", "expected section.key=value"),
])
def test_errors_name_the_key_and_the_allowed_range(override, message):
    with pytest.raises(ConfigError) as err:
        load_config(None, [override])
    assert message in str(err.value)


def test_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("tracker: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("42\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(scalar)


def test_cameras_are_validated():
    cfg = config_from_dict({"cameras": [{"name": "door-1", "source": "rtsp://h/s"}]})
    assert cfg.cameras[0].name == "door-1"
    with pytest.raises(ConfigError, match="duplicate camera name"):
        config_from_dict({"cameras": [{"name": "a", "source": "x"}, {"name": "a", "source": "y"}]})
    with pytest.raises(ConfigError, match=r"cameras\[0\].name"):
        config_from_dict({"cameras": [{"name": "bad name!", "source": "x"}]})


@pytest.mark.parametrize("links, message", [
    ([{"camera_a": "a", "camera_b": "a"}],
     "hub.camera_links[0]: camera_a and camera_b must be two different camera names, got 'a' and 'a'"),
    ([{"camera_a": "a"}], "hub.camera_links[0]: camera_a and camera_b must be two different camera names"),
    ([{"camera_a": "a", "camera_b": "b"}, {"camera_a": "b", "camera_b": "a", "overlap": False}],
     "hub.camera_links[1]: the pair b/a is listed twice"),
])
def test_camera_links_are_validated_when_loaded(links, message):
    with pytest.raises(ConfigError) as err:
        config_from_dict({"hub": {"camera_links": links}})
    assert message in str(err.value)


def _flat(obj: Any, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in dataclasses.asdict(obj).items():
        out.update(_flat_value(prefix + key, value))
    return out


def _flat_value(key: str, value: object) -> dict[str, object]:
    if isinstance(value, dict):
        return {f"{key}.{k}": v for k, v in value.items()}
    return {key: value}


def _approx_equal(a: object, b: object) -> bool:
    fa, fb = _flat(a), _flat(b)
    return fa.keys() == fb.keys() and all(
        math.isclose(fa[k], fb[k], rel_tol=0.01, abs_tol=1e-9) if isinstance(fa[k], float) else fa[k] == fb[k]
        for k in fa)


def test_the_pure_layers_default_to_the_config_defaults():
    """core and identity carry their own defaults, in cosine for the reference model (OSNet-x0.25 MSMT17); the
    config's standardised defaults must map onto them (within rounding) with that model's scale."""
    assert kalman_params(KalmanConfig()) == KalmanParams()
    assert _approx_equal(tracker_params(TrackerConfig(), REFERENCE_SCALE), TrackerParams())
    assert _approx_equal(identity_params(HubConfig(), REFERENCE_SCALE), IdentityParams())


def test_mapping_carries_every_value_and_the_link_default():
    cfg = load_config(None, ["tracker.max_age_s=5", "tracker.output_box=detection", "kalman.std_weight_velocity=0.01",
                             "hub.match_threshold=0.7", "hub.camera_normalization=none",
                             "hub.default_camera_relation=disjoint", "hub.default_min_transition_s=3",
                             "hub.camera_links=[{camera_a: a, camera_b: b, overlap: false}, "
                             "{camera_a: a, camera_b: c, overlap: false, min_transition_s: 9}]"])
    assert tracker_params(cfg.tracker).max_age_s == 5.0 and tracker_params(cfg.tracker).output_box == "detection"
    assert kalman_params(cfg.kalman).velocity_std_per_height == 0.01
    ident = identity_params(cfg.hub, AppearanceScale(same_cosine=0.7, diff_cosine=0.2))
    assert math.isclose(ident.match_threshold, 0.2 + 0.7 * 0.5) and ident.normalization.mode == "none"
    assert ident.topology.default_relation == "disjoint" and ident.topology.default_min_transition_s == 3.0
    assert ident.topology.links == (CameraLink("a", "b", False, None), CameraLink("a", "c", False, 9.0))


def test_core_and_identity_load_no_config_yaml_or_io_libraries():
    code = ("import sys, tracker.core.multi_tracker, tracker.core.protocols, tracker.identity; "
            "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('yaml', 'cv2', 'redis', 'torch', 'ultralytics', 'onnxruntime', 'openvino') "
            "or m.startswith('tracker.config'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == ""


_yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
_sections = st.sampled_from(["detector", "clahe", "reid", "kalman", "tracker", "source", "output", "redis",
                             "logging", "cameras", "other"])


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_sections, _yaml_values, max_size=4))
def test_fuzz_loader_only_raises_config_error(data):
    """Whatever YAML-shaped data comes in, the loader returns a Config or raises ConfigError — never crashes."""
    try:
        cfg = config_from_dict(data)
    except ConfigError:
        return
    assert isinstance(cfg, Config)
    yaml.safe_dump(config_to_dict(cfg))


def test_detector_threads_are_shared_out_between_local_cameras():
    cfg = load_config(None)
    assert cfg.detector.num_threads == 0
    assert with_detector_threads_for(cfg, 1, cpu_count=2) is cfg  # one camera: OpenVINO's default
    assert with_detector_threads_for(cfg, 4, cpu_count=2).detector.num_threads == 1
    assert with_detector_threads_for(cfg, 4, cpu_count=16).detector.num_threads == 4
    fixed = load_config(None, ["detector.num_threads=2"])
    assert with_detector_threads_for(fixed, 4, cpu_count=2) is fixed  # an explicit value is kept
    assert cfg.reid.num_threads == 1 and with_detector_threads_for(cfg, 4, cpu_count=16).reid.num_threads == 1
    auto_reid = load_config(None, ["reid.num_threads=0"])  # Re-ID on every core: shared out too
    shared = with_detector_threads_for(auto_reid, 4, cpu_count=16)
    assert shared.reid.num_threads == 4 and shared.detector.num_threads == 4
    both_fixed = load_config(None, ["detector.num_threads=2", "reid.num_threads=0"])
    assert with_detector_threads_for(both_fixed, 8, cpu_count=16).detector.num_threads == 2
    assert with_detector_threads_for(both_fixed, 8, cpu_count=16).reid.num_threads == 2
